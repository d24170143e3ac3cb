import subprocess
import sys

from refimpl.cli import main


def test_check_prints_a_table_and_exits_zero(capsys):
    assert main(["check", "--filter", "Linear"]) == 0
    out = capsys.readouterr().out
    assert "nn.Linear" in out and "gradcheck f64" in out and "pass" in out and "0 failed" in out


def test_check_with_unknown_filter_exits_nonzero(capsys):
    assert main(["check", "--filter", "NoSuchLayer"]) == 2


def test_console_script_is_installed():
    out = subprocess.run([sys.executable, "-m", "refimpl.cli", "info"], capture_output=True, text=True, check=True)
    assert "refimpl 0.1.0" in out.stdout
