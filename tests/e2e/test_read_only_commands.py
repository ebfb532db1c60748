"""End to end: commands that only read (`stats`, `alerts list`, `report held`) open the
database read-only. A missing database is exit 66 with a message naming the path and
how to point elsewhere, and nothing is created: no file, no parent folder. An older
schema is refused, not migrated.

Also where the configuration comes from: --config, then $TLSRPTD_CONFIG, then the
system file when it exists, then the built-in defaults. The system file is moved away
from /etc with the hidden --system-config option, so this runs without root; `--help`
and `config check` say which file is in use."""
import os

from support import QUIRKS, TempDirTest, main, sql, tlsrptd

READ_ONLY = (["stats"], ["alerts", "list"], ["report", "held"], ["report", "list"], ["report", "show", "1"])


class ReadOnly(TempDirTest):
    def setUp(self):
        super().setUp()
        # Neither the caller's $TLSRPTD_CONFIG nor a real /etc/tlsrptd/tlsrptd.toml applies here.
        self.env = {k: v for k, v in os.environ.items() if k != "TLSRPTD_CONFIG"}
        self.nosys = ["--system-config", self.path("no-system.toml")]

    def cli(self, *args, env=None, cwd=None):
        return tlsrptd(*self.nosys, *args, env=env or self.env, cwd=cwd)

    def test_missing_database_is_exit_66_and_nothing_is_created(self):
        parent = self.path("x")
        db = os.path.join(parent, "missing", "db.sqlite")
        for cmd in READ_ONLY:
            with self.subTest(cmd=cmd):
                p = self.cli(*cmd, "--db", db)
                self.assertEqual(p.returncode, 66, p.stderr)
                self.assertIn(f"no database at {db} (given by --db)", p.stderr)
                for knob in ("--db PATH", "--config FILE", "$TLSRPTD_CONFIG"):
                    self.assertIn(knob, p.stderr)
                self.assertFalse(os.path.exists(db))
                self.assertFalse(os.path.exists(parent), "no parent folder is created")

    def test_default_database_is_named_with_its_folder_and_the_configuration(self):
        for cmd in READ_ONLY:
            with self.subTest(cmd=cmd):
                p = self.cli(*cmd, cwd=self.tmp)
                self.assertEqual(p.returncode, 66, p.stderr)
                self.assertIn(f"no database at {self.path('var', 'tlsrptd.sqlite')} (the `database` setting of "
                              "built-in defaults (no --config, no $TLSRPTD_CONFIG, no ", p.stderr)
                self.assertEqual(os.listdir(self.tmp), [], "var/ is not created")

    def test_existing_database_is_read(self):
        db = self.path("r.sqlite")
        tlsrptd("report", "import", "--no-progress", "--db", db,
                os.path.join(QUIRKS, "generic-utf8-bom-and-normalisation.json"), check=True)
        version = sql(db, "PRAGMA user_version")[0]["user_version"]
        p = self.cli("stats", "--db", db, "--format", "csv")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.splitlines()[1].startswith("example.com,sts,"), p.stdout)
        p = self.cli("alerts", "list", "--db", db)  # the import raised one (a STARTTLS failure)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("starttls-failure", p.stdout)
        self.assertEqual(self.cli("report", "held", "--db", db).stdout, "no held reports\n")
        self.assertEqual(sql(db, "PRAGMA user_version")[0]["user_version"], version)

    def test_older_schema_is_refused_not_migrated(self):
        db = self.path("old.sqlite")
        sql(db, "CREATE TABLE report (id INTEGER PRIMARY KEY); PRAGMA user_version = 1")
        for cmd in READ_ONLY:
            with self.subTest(cmd=cmd):
                p = self.cli(*cmd, "--db", db)
                self.assertEqual(p.returncode, 74, p.stderr)
                self.assertIn(f"{db}: database schema version 1 is older than this tlsrptd reads", p.stderr)
                self.assertIn("`tlsrptd serve`", p.stderr)
        self.assertEqual(sql(db, "PRAGMA user_version")[0]["user_version"], 1, "not migrated")

    def test_a_file_that_is_not_a_database_is_left_alone(self):
        empty = self.path("empty.sqlite")
        open(empty, "w").close()
        p = self.cli("stats", "--db", empty)
        self.assertEqual(p.returncode, 74, p.stderr)
        self.assertIn(f"{empty} is not a tlsrptd database", p.stderr)
        self.assertEqual(os.path.getsize(empty), 0)

    def test_writing_commands_still_create_the_database(self):
        db, nothing = self.path("new", "w.sqlite"), self.path("nothing")
        os.mkdir(nothing)
        tlsrptd("report", "import", "--no-progress", "--db", db, nothing, check=True)
        self.assertTrue(os.path.exists(db))


class ConfigDiscovery(TempDirTest):
    def setUp(self):
        super().setUp()
        self.env = {k: v for k, v in os.environ.items() if k != "TLSRPTD_CONFIG"}
        self.files = {}
        for name in ("flag", "env", "system"):  # each names its own (missing) database
            self.files[name] = self.path(f"{name}.toml")
            with open(self.files[name], "w") as f:
                f.write(f'database = "{self.path(name + ".sqlite")}"\n')

    def cli(self, *args, flag=False, env=False, system=True):
        e = dict(self.env)
        if env:
            e["TLSRPTD_CONFIG"] = self.files["env"]
        sys_path = self.files["system"] if system else self.path("no-system.toml")
        extra = ["--config", self.files["flag"]] if flag else []
        return tlsrptd("--system-config", sys_path, *extra, *args, env=e)

    def test_search_order(self):
        cases = [
            (dict(flag=True, env=True), "flag", "from --config"),
            (dict(env=True), "env", "from $TLSRPTD_CONFIG"),
            (dict(), "system", "the system configuration file"),
        ]
        for kw, name, why in cases:
            with self.subTest(name=name):
                p = self.cli("config", "check", **kw)
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertEqual(p.stdout, f"using {self.files[name]} ({why})\nconfiguration OK\n")
                # The file in use is the one a command reads: its database is the one looked for.
                p = self.cli("stats", **kw)
                self.assertEqual(p.returncode, 66, p.stderr)
                self.assertIn(f"no database at {self.path(name + '.sqlite')} (the `database` setting of "
                              f"{self.files[name]} ({why}))", p.stderr)

    def test_built_in_defaults_when_nothing_is_there(self):
        p = self.cli("config", "check", system=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, "using built-in defaults (no --config, no $TLSRPTD_CONFIG, no "
                                   f"{self.path('no-system.toml')})\nconfiguration OK\n")

    def test_a_named_missing_file_is_an_error_not_a_fallback(self):
        missing = self.path("typo.toml")
        p = tlsrptd("--system-config", self.files["system"], "--config", missing, "stats", env=self.env)
        self.assertEqual(p.returncode, 78, p.stderr)
        self.assertEqual(p.stderr, f"tlsrptd: {missing}: no such configuration file (from --config)\n")
        env = dict(self.env, TLSRPTD_CONFIG=missing)
        p = tlsrptd("--system-config", self.files["system"], "config", "check", env=env)
        self.assertEqual(p.returncode, 78, p.stderr)
        self.assertEqual(p.stderr, f"tlsrptd: {missing}: no such configuration file (from $TLSRPTD_CONFIG)\n")
        # Commands that read no configuration are not stopped by it.
        p = tlsrptd("record", "check", "v=TLSRPTv1; rua=mailto:tlsrpt@example.com", env=env)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_help_names_the_configuration_in_use(self):
        p = self.cli("--help", env=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(f"Configuration in use: {self.files['env']} (from $TLSRPTD_CONFIG)", p.stdout)
        p = self.cli("stats", "--help", flag=True)
        self.assertIn(f"Configuration in use: {self.files['flag']} (from --config)", p.stdout)
        p = self.cli("alerts", "list", "--help", system=False)
        self.assertIn("Configuration in use: built-in defaults (no --config", p.stdout)


if __name__ == "__main__":
    main()
