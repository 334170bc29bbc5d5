# pam_passage — see README.md.  "sudo make deps demo", "sudo make deps check".

VERSION    = 0.1.0
PREFIX    ?= /usr
BINDIR    ?= $(PREFIX)/bin
MANDIR    ?= $(PREFIX)/share/man
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
PAMDIR    ?= /lib/$(if $(MULTIARCH),$(MULTIARCH)/,)security
DESTDIR   ?=

CC        ?= cc
CFLAGS    ?= -O2 -g
WARNINGS   = -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes \
             -Wmissing-prototypes -Wvla
HARDENING  = -fPIC -fstack-protector-strong -fstack-clash-protection \
             -fcf-protection -D_FORTIFY_SOURCE=2
LDHARDEN   = -Wl,-z,relro,-z,now,-z,noexecstack
CPPFLAGS  += -D_GNU_SOURCE -DPP_VERSION='"$(VERSION)"'
LIBS       = -lpam -lcurl -ljson-c -lkeyutils -lcrypto
ALL_CFLAGS = $(CPPFLAGS) $(WARNINGS) $(HARDENING) $(CFLAGS)

LIB_SRC    = $(wildcard lib/*.c)
LIB_OBJ    = $(LIB_SRC:%.c=build/%.o)
HEADERS    = $(wildcard lib/*.h)
UNIT_SRC   = $(wildcard tests/unit/test_*.c)
UNIT_BIN   = $(UNIT_SRC:tests/unit/%.c=build/tests/%)

# Debian packages the build, the tests and the demo need.
DEB_PKGS   = gcc make libc6-dev libpam0g-dev libcurl4-openssl-dev \
             libjson-c-dev libkeyutils-dev libssl-dev libcmocka-dev \
             pamtester keyutils openssl python3 python3-pytest \
             openssh-server openssh-client sshpass clang-format procps curl

PYTEST     = /usr/bin/python3 -m pytest -p no:cacheprovider

.PHONY: all install uninstall check unit demo deps clean format \
        format-check

# Keep the unit tests' objects between runs.
.SECONDARY:

all: build/pam_passage.so build/passage-token build/pam-driver

build/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(ALL_CFLAGS) -c -o $@ $<

build/pam_passage.so: build/pam_passage.o $(LIB_OBJ) pam_passage.map
	$(CC) -shared $(CFLAGS) $(LDHARDEN) \
	    -Wl,--version-script=pam_passage.map -o $@ \
	    build/pam_passage.o $(LIB_OBJ) $(LIBS)

build/passage-token: build/passage-token.o $(LIB_OBJ)
	$(CC) -pie $(CFLAGS) $(LDHARDEN) -o $@ $^ $(LIBS)

# The test driver: one PAM transaction through real libpam.
build/pam-driver: build/tests/pam-driver.o
	$(CC) -pie $(CFLAGS) $(LDHARDEN) -o $@ $^ -lpam

build/tests/test_%: build/tests/unit/test_%.o $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS) -lcmocka

install: build/pam_passage.so build/passage-token
	install -d $(DESTDIR)$(PAMDIR) $(DESTDIR)$(BINDIR) \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(MANDIR)/man8
	install -m 0644 build/pam_passage.so $(DESTDIR)$(PAMDIR)/
	install -m 0755 build/passage-token $(DESTDIR)$(BINDIR)/
	install -m 0644 man/passage-token.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 man/pam_passage.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 man/pam_passage.8 $(DESTDIR)$(MANDIR)/man8/

uninstall:
	rm -f $(DESTDIR)$(PAMDIR)/pam_passage.so $(DESTDIR)$(BINDIR)/passage-token
	rm -f $(DESTDIR)$(MANDIR)/man1/passage-token.1 \
	    $(DESTDIR)$(MANDIR)/man5/pam_passage.conf.5 \
	    $(DESTDIR)$(MANDIR)/man8/pam_passage.8

check: all $(UNIT_BIN)
	@for t in $(UNIT_BIN); do echo "== $$t"; $$t || exit 1; done
	$(PYTEST) -q tests

unit: $(UNIT_BIN)
	@for t in $(UNIT_BIN); do echo "== $$t"; $$t || exit 1; done

demo: all
	tests/demo.sh

deps:
	@missing=$$(for p in $(DEB_PKGS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
	    grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "installing:" $$missing; \
	    apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

C_SOURCES  = *.c lib/*.c lib/*.h tests/*.c tests/unit/*.c tests/unit/*.h

format:
	clang-format -i $(C_SOURCES)

format-check:
	clang-format --dry-run --Werror $(C_SOURCES)

clean:
	rm -rf build
