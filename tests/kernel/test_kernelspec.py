"""The "Symphony" kernelspec starts a real kernel with the Pit already loaded."""

from __future__ import annotations

import json
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import start_new_kernel

from symphony_kernel import kernelspec


def test_kernel_json_loads_the_extension() -> None:
    spec = kernelspec.kernel_json("/some/python")
    assert spec["display_name"] == "Symphony"
    assert spec["argv"][:3] == ["/some/python", "-m", "ipykernel_launcher"]
    # Opened at start-up without the extension manager: a notebook's `%load_ext` is then silent.
    assert not any("extra_extensions" in arg for arg in spec["argv"])
    assert any("start_in_kernel()" in arg for arg in spec["argv"])


def test_install_into_a_prefix(tmp_path: Path) -> None:
    where = Path(kernelspec.install(prefix=str(tmp_path)))
    assert where == tmp_path / "share" / "jupyter" / "kernels" / "symphony"
    assert json.loads((where / "kernel.json").read_text())["display_name"] == "Symphony"
    for size in (32, 64):
        png = (where / f"logo-{size}x{size}.png").read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        assert int.from_bytes(png[16:20], "big") == size  # IHDR width
    assert "<svg" in (where / "logo-svg.svg").read_text()


def test_the_installed_kernel_has_a_session_pit() -> None:
    assert "symphony" in KernelSpecManager().find_kernel_specs(), "make setup installs the kernelspec"
    manager, client = start_new_kernel(kernel_name="symphony", startup_timeout=120)
    try:
        outputs: list[str] = []

        def keep(message: dict[str, object]) -> None:
            content = message["content"]
            if message["msg_type"] == "execute_result":
                outputs.append(content["data"]["text/plain"])  # type: ignore[index]
            elif message["msg_type"] == "stream":
                outputs.append(content["text"])  # type: ignore[index]

        reply = client.execute_interactive(
            "type(pit).__name__, pit.artifacts.get(pit.artifacts.put(b'in the kernel'))", timeout=60, output_hook=keep
        )
        assert reply["content"]["status"] == "ok"
        assert outputs == ["('Pit', b'in the kernel')"]
        # A notebook's own %load_ext says nothing but the card, twice says nothing at all.
        shown: list[dict[str, object]] = []
        for _ in range(2):
            reply = client.execute_interactive(
                "%load_ext symphony_kernel", timeout=60, output_hook=lambda m: shown.append(m)
            )
            assert reply["content"]["status"] == "ok"
        kinds = [m["msg_type"] for m in shown if m["msg_type"] not in ("status", "execute_input")]
        assert kinds == ["display_data"], shown
        data = shown[[m["msg_type"] for m in shown].index("display_data")]["content"]["data"]  # type: ignore[index]
        assert "Symphony Lab" in data["text/html"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
