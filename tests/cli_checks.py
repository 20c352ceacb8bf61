"""Checks of what the command line prints, shared by the tests."""

from __future__ import annotations


def one_line_error(result, *fragments: str) -> str:
    """Assert that a CliRunner ``result`` is exit code 2 and one line ``error: ...`` holding every fragment,
    with no traceback; return that line."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]
