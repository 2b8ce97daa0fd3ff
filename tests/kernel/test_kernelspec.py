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
    assert "--IPKernelApp.extra_extensions=symphony_kernel" in spec["argv"]


def test_install_into_a_prefix(tmp_path: Path) -> None:
    where = Path(kernelspec.install(prefix=str(tmp_path)))
    assert where == tmp_path / "share" / "jupyter" / "kernels" / "symphony"
    assert json.loads((where / "kernel.json").read_text())["display_name"] == "Symphony"


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
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
