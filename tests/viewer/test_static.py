"""The UI port's static files: index.html for / and deep links, /static/ assets with their content types,
nothing outside the static directory."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

from llmtel.viewer import Viewer
from llmtel.viewer._api import STATIC_DIR

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 8


@pytest.fixture
def static_viewer(tmp_path: Path):
    static = tmp_path / "static"
    (static / "img").mkdir(parents=True)
    (static / "index.html").write_text("<!doctype html><title>llmtel test</title>")
    (static / "app.js").write_text("export const x = 1;")
    (static / "styles.css").write_text("body{}")
    (static / "img" / "logo.svg").write_text("<svg/>")
    (static / "img" / "logo.png").write_bytes(PNG)
    (tmp_path / "secret.txt").write_text("not served")
    with Viewer(grpc_port=None, http_port=None, static_dir=static) as viewer:
        yield viewer


def _get(viewer: Viewer, path: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(viewer.ui_url + path, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


@pytest.mark.parametrize("path", ["/", "/index.html", "/trace/0123456789abcdef0123456789abcdef", "/trace/x?y=1"])
def test_index_for_root_and_deep_links(static_viewer, path):
    assert _get(static_viewer, path) == (200, "text/html; charset=utf-8", b"<!doctype html><title>llmtel test</title>")


@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        ("/static/app.js", "text/javascript; charset=utf-8", b"export const x = 1;"),
        ("/static/styles.css", "text/css; charset=utf-8", b"body{}"),
        ("/static/img/logo.svg", "image/svg+xml", b"<svg/>"),
        ("/static/img/logo.png", "image/png", PNG),
    ],
)
def test_assets_with_content_types(static_viewer, path, content_type, body):
    assert _get(static_viewer, path) == (200, content_type, body)


@pytest.mark.parametrize(
    "path",
    ["/static/../secret.txt", "/static/%2e%2e/secret.txt", "/static/missing.js", "/static/img", "/elsewhere",
     "/static/%00", "/static/" + "x" * 5000],  # the OS refuses the last two names: they were 500s
)
def test_nothing_else_is_served(static_viewer, path):
    status, _, body = _get(static_viewer, path)
    assert status == 404 and b"not served" not in body


def test_missing_ui_files_are_a_clear_404(tmp_path):
    with Viewer(grpc_port=None, http_port=None, static_dir=tmp_path) as viewer:
        status, _, body = _get(viewer, "/")
    assert status == 404 and b"UI files are missing" in body


def test_the_packaged_ui_is_served_by_default(viewer):
    status, content_type, body = _get(viewer, "/")
    assert (STATIC_DIR / "index.html").is_file()
    assert (status, content_type) == (200, "text/html; charset=utf-8")
    assert body == (STATIC_DIR / "index.html").read_bytes()
