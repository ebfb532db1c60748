// tlsrptd's entry point. Nothing but the CLI.
#include "daemon/cli/commands.hpp"

int main(int argc, char** argv) { return tlsrpt::daemon::run_cli(argc, argv); }
