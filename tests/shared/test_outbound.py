"""The guard on URLs from outside: internal addresses refused, when registered and when sent."""

import ipaddress

import httpx
import pytest

from shared.outbound import OutboundPolicy, UrlNotAllowed, is_public, outbound_client
from shared.settings import Settings
from tests.notify.sinks import HttpSink

INTERNAL = [
    "127.0.0.1",
    "127.8.9.10",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "100.64.0.1",  # shared address space (carrier NAT)
    "169.254.169.254",  # the cloud metadata service
    "0.0.0.0",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
]
PUBLIC = ["101.226.4.6", "2408:8000::1", "::ffff:101.226.4.6"]


def resolver(table: dict[str, list[str]]):
    """A resolver over a fixed table: no DNS query leaves the machine."""

    async def resolve(host: str, _port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        if host not in table:
            raise OSError(f"{host} does not resolve")
        return [ipaddress.ip_address(a) for a in table[host]]

    return resolve


class TestAddresses:
    @pytest.mark.parametrize("address", INTERNAL)
    def test_internal_ones_are_not_public(self, address):
        assert not is_public(ipaddress.ip_address(address))

    @pytest.mark.parametrize("address", PUBLIC)
    def test_public_ones_are(self, address):
        assert is_public(ipaddress.ip_address(address))


class TestRegistration:
    @pytest.mark.parametrize(
        "url",
        [
            "http://127.0.0.1:8102/users",
            "http://10.0.0.1/hook",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]:8103/messages",
            "http://[::ffff:127.0.0.1]/",
            "http://localhost:8101/",  # a name that resolves to loopback (/etc/hosts)
            "http://2130706433/",  # 127.0.0.1 written as one number
            "http://0x7f.1/",
            "ftp://files.example.cn/x",
        ],
    )
    async def test_internal_urls_are_refused(self, url):
        with pytest.raises(UrlNotAllowed) as refused:
            await OutboundPolicy().check_url(url)
        assert refused.value.code == "url_not_allowed"
        assert refused.value.status == 422

    async def test_a_name_with_one_internal_address_among_public_ones_is_refused(self):
        policy = OutboundPolicy(resolver=resolver({"hook.example.cn": ["101.226.4.6", "10.1.1.1"]}))
        with pytest.raises(UrlNotAllowed, match=r"10\.1\.1\.1"):
            await policy.check_url("https://hook.example.cn/x")

    async def test_public_and_unresolvable_names_are_taken(self):
        policy = OutboundPolicy(resolver=resolver({"qyapi.weixin.qq.com": ["101.226.4.6"]}))
        await policy.check_url("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K")
        await policy.check_url("https://not-yet.example.cn/x")  # checked again when sent

    async def test_the_allow_list_takes_hosts_and_networks(self, monkeypatch):
        monkeypatch.setenv("HUODIAN_OUTBOUND_ALLOW", "127.0.0.1, 10.8.0.0/16,Robots.Corp")
        policy = OutboundPolicy.from_settings(Settings())
        await policy.check_url("http://127.0.0.1:9/hook")
        await policy.check_url("http://[::ffff:127.0.0.1]:9/hook")
        await policy.check_url("http://localhost:9/hook")  # resolves to an allowed address
        await policy.check_url("http://10.8.3.4/hook")
        await policy.check_url("http://robots.corp/hook")  # whatever it resolves to
        with pytest.raises(UrlNotAllowed):
            await policy.check_url("http://10.9.0.1/hook")


class TestSending:
    @pytest.fixture
    def sink(self):
        sink = HttpSink()
        yield sink
        sink.close()

    async def test_a_name_that_now_resolves_inside_is_not_called(self, sink):
        port = sink.url.rsplit(":", 1)[1]
        policy = OutboundPolicy(resolver=resolver({"hook.example.cn": ["127.0.0.1"]}))
        async with outbound_client(policy, httpx.Timeout(5)) as client:
            with pytest.raises(UrlNotAllowed):
                await client.post(f"http://hook.example.cn:{port}/x", json={})
        assert sink.requests == []

    async def test_it_connects_to_the_address_it_checked(self, sink):
        port = sink.url.rsplit(":", 1)[1]
        policy = OutboundPolicy.from_allow_list(
            ["127.0.0.1"], resolver=resolver({"hook.example.cn": ["127.0.0.1"]})
        )
        async with outbound_client(policy, httpx.Timeout(5)) as client:
            response = await client.post(f"http://hook.example.cn:{port}/x", json={})
        assert response.status_code == 200
        assert [r.headers["Host"] for r in sink.requests] == [f"hook.example.cn:{port}"]
