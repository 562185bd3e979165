"""`llmtel.viewer.Viewer`, the in-process API `llmtel demo` and tests use: endpoints, URLs, validation."""

from __future__ import annotations

import pytest

from llmtel.viewer import Viewer
from tests.viewer.conftest import get_json


def test_endpoints_and_urls(viewer):
    assert viewer.ui_url == f"http://127.0.0.1:{viewer.ui_port}"
    assert viewer.trace_url("ABC123") == f"{viewer.ui_url}/trace/abc123"
    assert viewer.otlp_http_endpoint == f"http://127.0.0.1:{viewer.receiver.http_port}"
    assert viewer.otlp_grpc_endpoint == f"http://127.0.0.1:{viewer.receiver.grpc_port}"
    assert len({viewer.ui_port, viewer.receiver.http_port, viewer.receiver.grpc_port}) == 3
    assert viewer.flush() is True
    assert get_json(viewer, "/api/services") == (200, {"data": [], "total": 0, "limit": 0, "offset": 0,
                                                      "errors": None})


def test_non_loopback_host_needs_allow_remote():
    with pytest.raises(ValueError, match="^host: '0.0.0.0' is not a loopback address"):
        Viewer(host="0.0.0.0")


def test_bad_port_is_rejected():
    with pytest.raises(ValueError, match="^ui_port"):
        Viewer(ui_port=70000)


def test_stopped_viewer_says_so_and_stop_is_idempotent():
    viewer = Viewer(grpc_port=None).start()
    viewer.stop()
    viewer.stop()
    with pytest.raises(RuntimeError, match="not running"):
        _ = viewer.store
    with pytest.raises(RuntimeError):
        _ = viewer.ui_url
