"""`featsize -`: the compiled chain against chain_output, the stream against a line-by-line
oracle (chain_output and json.dumps, as the stream was first written), and bounded input."""

from __future__ import annotations

import json
import subprocess
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_featsize import chains, tokens

from dlcli.calculators.compiled import CompiledChain
from dlcli.calculators.featsize import chain_output
from dlcli.errors import InputError
from dlcli.layers import MAX_NUMBER, parse_layers


def _oracle(chain, size, in_channels=None):
    try:
        return chain_output(chain, size, in_channels)
    except InputError:
        return None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chains(), st.sampled_from([None, 3]))
def test_compiled_chain_is_chain_output(case, in_channels):
    size, tokens_ = case
    chain = parse_layers(",".join(tokens_))
    expected = _oracle(chain, size, in_channels)
    rows = CompiledChain(chain, in_channels).walk(size)
    if rows is None:  # refused, or left to chain_output (ATen's 3-D average pooling check)
        assert expected is None or (len(size) == 3 and "avgpool" in ",".join(tokens_))
        return
    assert expected is not None
    assert rows == [(layer.output, layer.dropped) for layer in expected.layers]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(tokens(1), min_size=1, max_size=4),
    st.integers(1, MAX_NUMBER).map(lambda n: n if n % 3 else n % 200 + 1),
)
def test_compiled_chain_at_large_sizes(tokens_, n):
    chain = parse_layers(",".join(tokens_))
    expected = _oracle(chain, (n,))
    rows = CompiledChain(chain).walk((n,))
    assert (rows is None) == (expected is None)
    if rows is not None:
        assert rows == [(layer.output, layer.dropped) for layer in expected.layers]


def _expected(chain_spec: str, lines: list[str], mode: str) -> tuple[str, int]:
    """The stream's answer as the first implementation wrote it, line by line."""
    from dlcli.cli.common import format_size
    from dlcli.layers import parse_size

    chain, out, bad = parse_layers(chain_spec), [], 0
    for lineno, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            skipped = {"line": lineno, "input": None, "output": None, "text": text}
            out.append(json.dumps(skipped | {"skipped": True}) if mode == "--json" else "")
            continue
        try:
            result = chain_output(chain, parse_size(text))
        except InputError as exc:
            bad += 1
            error = {"line": lineno, "input": None, "output": None, "text": text}
            out.append(json.dumps(error | {"error": str(exc)}) if mode == "--json" else "error")
            continue
        if mode == "--json":
            out.append(json.dumps({"line": lineno, **result.to_dict()}))
        elif mode == "-q":
            out.append(format_size(result.output))
        else:
            out.append(f"{format_size(result.input)} -> {format_size(result.output)}")
    return "".join(line + "\n" for line in out), 2 if bad else 0


line_text = st.one_of(
    st.integers(1, 400).map(str),
    st.integers(1, 60).map(lambda n: f"{n}x{n + 1}"),
    st.integers(1, 12).map(lambda n: f" {n} x {n}x{n + 2} "),
    st.sampled_from(["", "   ", "# a comment", "0", "abc", "3²", "-5", "007", "12x0", "99" * 12]),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(tokens(1), min_size=1, max_size=3),
    st.lists(line_text, min_size=1, max_size=30),
    st.sampled_from(["-q", "--json", "--plain"]),
    st.sampled_from(["\n", "\r\n"]),
)
def test_stream_answers_as_line_by_line(invoke, tokens_, lines, mode, newline):
    spec = ",".join(tokens_)
    flags = [] if mode == "--plain" else [mode]
    result = invoke("featsize", "-", "--layers", spec, *flags, input=newline.join(lines) + "\n")
    stdout, status = _expected(spec, lines, mode)
    assert (result.stdout, result.exit_code) == (stdout, status)
    errors = [line for line in result.stderr.splitlines() if line]
    assert len(errors) == stdout.split("\n").count("error") + stdout.count('"error": ')
    assert all(line.startswith("dlcli: error: line ") for line in errors)


def test_stream_with_channels_matches_chain_output(invoke):
    spec = "conv3p1-8,relu,maxpool2,conv3-16"
    result = invoke("featsize", "-", "--layers", spec, "--in-channels", "3", "--json", input="9\n")
    document = json.loads(result.stdout)
    assert document == {"line": 1, **chain_output(parse_layers(spec), (9,), 3).to_dict()}
    assert document["params"] == (3 * 8 * 3 + 8) + (8 * 16 * 3 + 16)  # Conv1d weights + biases


def test_a_line_without_end_is_refused_after_the_cap(tmp_path):
    """`tr '\\0' 9 </dev/zero | dlcli featsize - -k 3` grew without bound: now one error line
    (the lines before it answered), exit 2, at once."""
    from dlcli.cli.featsize_stream import MAX_LINE

    proc = subprocess.run(
        f"(printf '5\\n7\\n'; tr '\\0' 9 </dev/zero) | {sys.executable} -m dlcli featsize - -k 3",
        shell=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stdout.splitlines() == ["5 -> 3", "7 -> 5", "error"]
    (message,) = proc.stderr.splitlines()
    assert message.startswith("dlcli: error: line 3: longer than") and f"{MAX_LINE:,}" in message
    # a long line between newlines, too, and with --json a record for it
    long_line = "1" * (MAX_LINE + 10)
    proc = subprocess.run(
        [sys.executable, "-m", "dlcli", "featsize", "-", "-k", "3", "--json"],
        input=f"4\n{long_line}\n5\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["line"] for r in rows] == [1, 2] and rows[0]["output"] == [2]
    assert rows[1]["output"] is None and "longer than" in rows[1]["error"]


def test_undecodable_bytes_are_a_bad_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "dlcli", "featsize", "-", "-k", "3", "-q"],
        input=b"32\n\xff\xfe\n16\n",
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stdout.decode().splitlines() == ["30", "error", "14"]
    assert proc.stderr.decode().startswith("dlcli: error: line 2: invalid size")
    assert "Traceback" not in proc.stderr.decode()
