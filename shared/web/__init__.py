"""What every service's pages share (网页公共部分): one layout, stylesheet, navigation and
sign-in, as Jinja2 templates and static files shipped with the package (no front-end build)."""
