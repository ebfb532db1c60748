"""End to end, as root only: `tlsrptd serve` started by root drops to its service user,
so a database that root made first (an admin command run before the daemon ever
started) would be read-only for it. The daemon hands root-made database files to the
service user before dropping privileges, never through a symbolic or hard link the
service user could plant, and refuses to start with a clear message when the
database folder is not writable by the service user."""
import os
import pwd
import unittest

from support import QUIRKS, SERVICE_USER, Daemon, TempDirTest, curl, main, sql, tlsrptd


def owner(path):
    return os.lstat(path).st_uid


@unittest.skipUnless(os.geteuid() == 0, "needs root: the daemon drops privileges only when started as root")
class RootMadeDatabase(TempDirTest):
    def setUp(self):
        super().setUp()
        self.d = Daemon(self.tmp)  # chowns the work folder to the service user
        self.var = os.path.dirname(self.d.db)
        self.uid = pwd.getpwnam(SERVICE_USER).pw_uid

    def tearDown(self):
        self.d.stop()
        super().tearDown()

    def root_makes_the_database(self):
        # An admin command as root before the daemon ever ran: var/ and the file are root's.
        # (A writing one: commands that only read, like `stats`, never create a database.)
        nothing = self.path("nothing-to-import")
        os.mkdir(nothing)
        tlsrptd("--db", self.d.db, "report", "import", "--no-progress", nothing, check=True)
        self.assertEqual(owner(self.var), 0)
        self.assertEqual(owner(self.d.db), 0)

    def test_root_owned_folder_is_refused_with_the_fix_in_the_message(self):
        self.root_makes_the_database()
        self.d.start(wait=False)
        rc = self.d.proc.wait(timeout=30)
        log = self.d.read_log()
        self.assertNotEqual(rc, 0, log)
        self.assertIn(f"is not writable by {SERVICE_USER}", log)
        self.assertIn(f"chown {SERVICE_USER}: {self.var}", log)
        self.assertEqual(owner(self.d.db), 0, "nothing is changed when the daemon does not start")

    def test_root_made_database_is_handed_to_the_service_user(self):
        self.root_makes_the_database()
        os.chown(self.var, self.uid, -1)  # what the message says to do
        self.d.start()
        self.assertIn(f"handed {self.d.db} (made by root) to the service user {SERVICE_USER}", self.d.read_log())
        self.assertEqual(owner(self.d.db), self.uid)
        with open(os.path.join(QUIRKS, "stalwart-mx-host-with-mx-prefix.json"), "rb") as f:
            body = f.read()
        status, _, resp = curl(self.d.url(), body, "application/tlsrpt+json")
        self.assertEqual(status, 200, resp)
        self.assertEqual(sql(self.d.db, "SELECT count(*) AS n FROM reports", service=True)[0]["n"], 1)

    def test_links_planted_beside_the_database_are_not_followed(self):
        self.root_makes_the_database()
        os.chown(self.var, self.uid, -1)
        victim = self.path("victim")  # a root file outside the database folder (empty: SQLite ignores
        open(victim, "w").close()      # an empty -journal, so only the hand-over is tested)
        os.symlink(victim, self.d.db + "-journal")
        self.d.start()
        self.d.stop()
        self.assertEqual(owner(victim), 0, "a symbolic link is not followed")
        os.unlink(self.d.db + "-journal")

        os.link(victim, self.d.db + "-journal")  # a hard link to a root file
        self.d.start(wait=False)
        rc = self.d.proc.wait(timeout=30)
        self.assertNotEqual(rc, 0)
        self.assertIn("is not a plain file with one link", self.d.read_log())
        self.assertEqual(owner(victim), 0, "a hard link is not handed over")


if __name__ == "__main__":
    main()
