# Compiler and linker hardening for every Meldpunt target, set in one place.
add_library(meldpunt_hardening INTERFACE)

target_compile_options(meldpunt_hardening INTERFACE
    -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion
    -Wformat=2 -Werror=format-security
    -fstack-protector-strong -fstack-clash-protection -fcf-protection
    $<$<NOT:$<CONFIG:Debug>>:-D_FORTIFY_SOURCE=3>
    -D_GLIBCXX_ASSERTIONS)

target_link_options(meldpunt_hardening INTERFACE
    -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack -Wl,--as-needed -pie)

set(CMAKE_POSITION_INDEPENDENT_CODE ON)
