"""The README promises what the code does: its configuration table is exactly what
`tlsrptd config defaults --format markdown` prints (one parameter table feeds both),
and every command it lists exists."""
import os
import re

from support import SOURCE, TempDirTest, main, tlsrptd


class Readme(TempDirTest):
    def setUp(self):
        super().setUp()
        with open(os.path.join(SOURCE, "README.md")) as f:
            self.text = f.read()

    def test_config_table_matches_the_parameter_table(self):
        m = re.search(r"<!-- config-table:begin -->\n(.*?)<!-- config-table:end -->", self.text, re.S)
        self.assertIsNotNone(m)
        table = tlsrptd("config", "defaults", "--format", "markdown", check=True).stdout
        self.assertEqual(m.group(1), table, "README config table is stale: regenerate it from "
                                            "`tlsrptd config defaults --format markdown`")

    def test_every_documented_command_exists(self):
        commands = set(re.findall(r"\| `tlsrptd ((?:[a-z]+ )?[a-z]+)", self.text))
        self.assertGreater(len(commands), 10)
        for cmd in commands:
            p = tlsrptd(*cmd.split(), "--help")
            self.assertEqual(p.returncode, 0, f"tlsrptd {cmd}: {p.stderr}")

    def test_quick_start_has_the_two_commands(self):
        quick = self.text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
        self.assertIn("./quickstart.sh run", quick)
        self.assertIn("./quickstart.sh test", quick)
        with open(os.path.join(SOURCE, ".ci", "run")) as f:
            self.assertIn("./quickstart.sh test", f.read())


if __name__ == "__main__":
    main()
