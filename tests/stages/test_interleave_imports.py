import subprocess
import sys


def test_interleaver_imports_no_beam():
    """The trainer imports the interleaver; it must not drag Beam in."""
    code = ("import sys, pipeline.stages.interleave, training.data; "
            "print('apache_beam' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
