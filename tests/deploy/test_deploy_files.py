"""deploy/ is valid, checked with each format's own tool: the compose file with docker-compose,
the Kubernetes manifests against the published schemas (kubernetes-validate, strict), the nginx
configuration with ``nginx -t``. Each check is also run on a broken copy, so that it can fail."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.e2e.support import require_debian_binary

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
KUBERNETES_VERSION = "1.31"
SERVICES = {"intake": 8101, "ledger": 8102, "notify": 8103}


def _compose_check(folder: Path) -> subprocess.CompletedProcess[str]:
    binary = require_debian_binary(Path("/usr/bin/docker-compose"), "docker-compose")
    return subprocess.run(
        [str(binary), "-p", "huodian", "-f", str(folder / "compose.yaml"), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _compose_copy(tmp_path: Path, text: str) -> Path:
    shutil.copytree(DEPLOY / "nginx", tmp_path / "nginx")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "signing_key").write_text("x" * 48)
    (tmp_path / "secrets" / "keyring.json").write_text("{}")
    (tmp_path / "compose.yaml").write_text(text)
    return tmp_path


class TestCompose:
    def test_the_compose_file_is_valid(self, tmp_path: Path) -> None:
        folder = _compose_copy(tmp_path, (DEPLOY / "compose.yaml").read_text())
        result = _compose_check(folder)
        assert result.returncode == 0, result.stderr

    def test_a_broken_compose_file_is_caught(self, tmp_path: Path) -> None:
        text = (
            (DEPLOY / "compose.yaml").read_text().replace("restart: unless-stopped", "restart: [")
        )
        result = _compose_check(_compose_copy(tmp_path, text))
        assert result.returncode != 0

    def test_two_replicas_of_each_service_one_worker_and_nginx(self) -> None:
        services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
        for name in SERVICES:
            assert {f"{name}-1", f"{name}-2"} <= services.keys()
        assert {"postgres", "migrate", "intake-worker", "nginx"} <= services.keys()
        # Exactly one intake process runs the watch and the integrity jobs.
        runs_jobs = [
            service
            for service, spec in services.items()
            if service.startswith("intake")
            and spec.get("environment", {}).get("HUODIAN_INTAKE_BACKGROUND_JOBS") == "true"
        ]
        assert runs_jobs == ["intake-worker"]


def _kubernetes_validate(*files: Path) -> subprocess.CompletedProcess[str]:
    executable = Path(sys.executable).with_name("kubernetes-validate")
    return subprocess.run(
        [str(executable), "--strict", "--quiet", "-k", KUBERNETES_VERSION, *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )


class TestKubernetes:
    def test_every_manifest_is_valid_against_the_published_schemas(self) -> None:
        manifests = sorted((DEPLOY / "k8s").glob("*.yaml"))
        assert len(manifests) >= 8
        result = _kubernetes_validate(*manifests)
        assert result.returncode == 0, result.stdout + result.stderr

    def test_an_unknown_field_is_caught(self, tmp_path: Path) -> None:
        broken = tmp_path / "intake.yaml"
        broken.write_text(
            (DEPLOY / "k8s" / "intake.yaml").read_text().replace("replicas:", "replica:")
        )
        assert _kubernetes_validate(broken).returncode != 0

    def test_what_the_issue_asks_for_is_there(self) -> None:
        kinds: dict[str, list[str]] = {}
        for manifest in (DEPLOY / "k8s").glob("*.yaml"):
            for doc in yaml.safe_load_all(manifest.read_text()):
                kinds.setdefault(doc["kind"], []).append(doc["metadata"]["name"])
        assert {"intake", "ledger", "notify", "intake-worker"} <= set(kinds["Deployment"])
        assert {"intake", "ledger", "notify"} <= set(kinds["Service"])
        assert kinds["Job"] == ["huodian-migrate"]
        assert {"huodian-signing-key", "huodian-keyring", "huodian-database"} <= set(
            kinds["Secret"]
        )
        assert "Ingress" in kinds


def _nginx_check(conf: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    nginx = require_debian_binary(Path("/usr/sbin/nginx"), "nginx")
    site = tmp_path / "huodian.conf"
    site.write_text(
        conf.read_text().replace(
            "/etc/nginx/huodian-upstreams.conf", str(DEPLOY / "nginx" / "upstreams-local.conf")
        )
    )
    main = tmp_path / "nginx.conf"
    main.write_text(f"events {{}}\nhttp {{\n  include {site};\n}}\n")
    (tmp_path / "logs").mkdir(exist_ok=True)
    return subprocess.run(
        [
            str(nginx),
            "-t",
            "-p",
            str(tmp_path),
            "-c",
            str(main),
            "-g",
            f"pid {tmp_path / 'nginx.pid'}; error_log stderr;",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )


class TestNginx:
    def test_nginx_accepts_the_configuration(self, tmp_path: Path) -> None:
        result = _nginx_check(DEPLOY / "nginx" / "huodian.conf", tmp_path)
        assert result.returncode == 0, result.stderr

    def test_a_broken_configuration_is_caught(self, tmp_path: Path) -> None:
        broken = tmp_path / "broken.conf"
        site = (DEPLOY / "nginx" / "huodian.conf").read_text()
        broken.write_text(site.replace("proxy_pass http://huodian_intake/;", "proxy_pass;"))
        assert _nginx_check(broken, tmp_path).returncode != 0

    @pytest.mark.parametrize("service", SERVICES)
    def test_each_service_has_its_path_and_both_replicas(self, service: str) -> None:
        site = (DEPLOY / "nginx" / "huodian.conf").read_text()
        assert re.search(rf"location /{service}/ \{{\s*proxy_pass http://huodian_{service}/;", site)
        for upstreams in ("upstreams-local.conf", "upstreams-compose.conf"):
            line = next(
                line
                for line in (DEPLOY / "nginx" / upstreams).read_text().splitlines()
                if line.startswith(f"upstream huodian_{service} ")
            )
            assert line.count(" server ") == 2


def test_the_grafana_dashboard_reads_only_metrics_the_services_export() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "huodian.json").read_text())
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\bhuodian_[a-z_]+\b", target["expr"])
    }
    sources = [Path("shared/metrics.py"), *Path("services").glob("*/*/metrics.py")]
    root = DEPLOY.parent
    exported = {
        f"huodian_{name}"
        for source in sources
        for name in re.findall(r'Figure\(\s*"([a-z_]+)"', (root / source).read_text())
    }
    exported |= {f"{name}_total" for name in exported}
    for service in SERVICES:
        exported |= {
            f"huodian_{service}_http_requests_total",
            f"huodian_{service}_http_request_duration_seconds_bucket",
        }
    assert used, "the dashboard has no queries"
    assert used - {"huodian_intake", "huodian_ledger", "huodian_notify"} <= exported, (
        used - exported
    )
    assert {"huodian_notify_scheduler_leader", "huodian_intake_outbox_lag_seconds"} <= used
