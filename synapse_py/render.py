"""Jinja2 rendering of the proxy configs from the templates shipped as `synapse_py.templates`."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

import jinja2

TEMPLATE_PACKAGE = "synapse_py.templates"


class PackageLoader(jinja2.BaseLoader):
    """Loads templates through importlib.resources: an installed wheel and a checkout alike."""

    def get_source(self, environment: jinja2.Environment, template: str):
        resource = resources.files(TEMPLATE_PACKAGE).joinpath(*template.split("/"))
        if not resource.is_file():
            raise jinja2.TemplateNotFound(template)
        return resource.read_text(encoding="utf-8"), None, lambda: True


@cache
def environment() -> jinja2.Environment:
    """The shared environment: strict about missing values, no HTML escaping."""
    return jinja2.Environment(
        loader=PackageLoader(),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        keep_trailing_newline=True,
    )


def render(template: str, context: Mapping[str, Any]) -> str:
    """Render one template of the package with `context`."""
    return environment().get_template(template).render(context)


def render_haproxy(context: Mapping[str, Any]) -> str:
    """Render haproxy.cfg; see templates/haproxy.cfg.j2 for the keys `context` must hold."""
    return render("haproxy.cfg.j2", context)
