"""Message templates (消息模板): one Jinja2 file per message type and channel, in Chinese.

``files/<kind>/<channel>.j2`` is used for that channel, else ``files/<kind>/default.j2``. A template
defines two blocks, ``subject`` and ``body``; ``files/<kind>/sample.json`` holds sample data for
the preview. Undefined variables are errors, never silently empty text.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound, UndefinedError

from services.notify.messages.models import Channel
from services.notify.templates.models import Rendered, TemplateInfo
from shared.errors import NotFound, Unprocessable

FILES = Path(__file__).resolve().parent / "files"


class Templates:
    def __init__(self, root: Path = FILES) -> None:
        self._root = root
        self._env = Environment(
            loader=FileSystemLoader(root),
            undefined=StrictUndefined,
            autoescape=False,  # plain text: email text/plain, SMS, robot text
            keep_trailing_newline=False,
        )

    def kinds(self) -> list[str]:
        return sorted(p.name for p in self._root.iterdir() if (p / "default.j2").is_file())

    def _known(self, kind: str) -> None:
        if kind not in self.kinds():
            raise NotFound(
                f"there is no template for message type '{kind}'", code="template_not_found"
            )

    def source_of(self, kind: str, channel: Channel) -> str:
        """The template file that speaks for ``kind`` on ``channel``."""
        self._known(kind)
        specific = f"{kind}/{channel.value}.j2"
        if (self._root / specific).is_file():
            return specific
        return f"{kind}/default.j2"

    def sample(self, kind: str) -> dict[str, Any]:
        self._known(kind)
        path = self._root / kind / "sample.json"
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data

    def info(self, kind: str) -> TemplateInfo:
        return TemplateInfo(
            kind=kind,
            channels={c: self.source_of(kind, c) for c in Channel},
            sample=self.sample(kind),
        )

    def render(self, kind: str, channel: Channel, data: dict[str, Any]) -> Rendered:
        name = self.source_of(kind, channel)
        try:
            template = self._env.get_template(name)
            context = template.new_context(data)
            subject = "".join(template.blocks["subject"](context)).strip()
            body = "".join(template.blocks["body"](context)).strip()
        except TemplateNotFound as exc:  # pragma: no cover - source_of checked the file
            raise NotFound(str(exc), code="template_not_found") from exc
        except UndefinedError as exc:
            raise Unprocessable(
                f"template {name} needs data that was not given: {exc.message}",
                code="template_data_missing",
            ) from exc
        except KeyError as exc:
            raise Unprocessable(
                f"template {name} lacks the block {exc}", code="template_invalid"
            ) from exc
        return Rendered(subject=subject, body=body)


@lru_cache
def templates() -> Templates:
    """The shipped templates (read-only files, loaded once per process)."""
    return Templates()
