"""The README's copyable signature check is the code the tests exercise."""

import re
from pathlib import Path

import helpdesk.signatures

EXAMPLE_DIR = Path(__file__).resolve().parent.parent


def test_the_readme_shows_the_signature_check_as_it_is_in_the_code():
    readme = (EXAMPLE_DIR / "README.md").read_text()
    section = readme.split("## Verifying webhook signatures", 1)[1]
    shown = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert shown.strip() in Path(helpdesk.signatures.__file__).read_text()
