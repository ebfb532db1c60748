#!/bin/sh
# Checks a built binary for the release hardening of cmake/flags.cmake
# (docs/guarantees.md#test-suites),
# as checksec would, from what the binary itself shows (readelf only):
#   PIE (ELF type DYN with the PIE flag), full RELRO (GNU_RELRO + BIND_NOW), no
#   executable stack, stack protector (__stack_chk_fail), _FORTIFY_SOURCE (__*_chk
#   calls), _GLIBCXX_ASSERTIONS (calls to std::__glibcxx_assert_fail).
# Usage: tests/hardening_check.sh BINARY     (exit 1 naming every missing item)
set -u  # not -e: each check reports its own failure
bin=${1:?usage: $0 BINARY}
[ -f "$bin" ] || { echo "hardening: no such file: $bin" >&2; exit 2; }

header=$(readelf -hW "$bin")
dynamic=$(readelf -dW "$bin")
segments=$(readelf -lW "$bin")
symbols=$(readelf --dyn-syms -W "$bin")

failed=0
check() {  # check NAME CONDITION-EXIT-STATUS DETAIL
  if [ "$2" -eq 0 ]; then
    echo "ok   $1: $3"
  else
    echo "FAIL $1: $3"
    failed=1
  fi
}

printf '%s\n' "$header" | grep -q 'Type:[[:space:]]*DYN' && printf '%s\n' "$dynamic" | grep -q 'FLAGS_1).*PIE'
check pie $? "ELF type DYN with DF_1_PIE (-fPIE -pie)"

printf '%s\n' "$segments" | grep -q 'GNU_RELRO'
check relro $? "a GNU_RELRO segment (-z relro)"

printf '%s\n' "$dynamic" | grep -Eq '\(FLAGS\).*BIND_NOW|\(FLAGS_1\).*NOW'
check bind-now $? "BIND_NOW: the GOT is read-only after start (-z now)"

printf '%s\n' "$segments" | grep 'GNU_STACK' | grep -Eqv 'RWE'
check nx-stack $? "GNU_STACK not executable"

printf '%s\n' "$symbols" | grep -q '__stack_chk_fail'
check stack-protector $? "calls __stack_chk_fail (-fstack-protector-strong)"

chk=$(printf '%s\n' "$symbols" | grep -oE '__[a-z0-9_]+_chk\b' | grep -v '__stack_chk' | sort -u | tr '\n' ' ')
[ -n "$chk" ]
check fortify $? "fortified calls: ${chk:-none} (-D_FORTIFY_SOURCE)"

printf '%s\n' "$symbols" | grep -q '__glibcxx_assert_fail'
check glibcxx-assertions $? "calls std::__glibcxx_assert_fail (-D_GLIBCXX_ASSERTIONS)"

exit $failed
