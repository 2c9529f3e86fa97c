# booking — common tasks. `make` alone runs the classic demo.
CARGO ?= cargo
# `run` and `bench` build a statically linked binary (glibc static-pie): a
# third of the memory mappings of a dynamic one, so each forked buyer costs
# less to fork and to tear down (about a fifth off a run, see README). The
# explicit --target keeps the flag off build scripts and proc-macros.
HOST := $(shell rustc -vV | sed -n 's/^host: //p')
STATIC = RUSTFLAGS="-C target-feature=+crt-static" $(CARGO)
BUYERS ?= 150
LOCK ?= none
ARGS ?=

.PHONY: run test slow-tests lint fmt check compare bench bench-pg scale zoo grade db db-stop redis redis-stop clean

run:
	$(STATIC) run --release --quiet --target $(HOST) -- --buyers $(BUYERS) --lock $(LOCK) $(ARGS)

test:
	$(CARGO) test

# The tests a plain `cargo test` leaves out because they take minutes: every
# command of docs/lab.md in a copy of the project (it builds the project
# twice), grading a file that does not build (its first run builds the
# dependencies in release), and the lean build (--no-default-features, built
# into target/lean). CI runs them with the rest (--include-ignored).
slow-tests:
	$(CARGO) test --test tests -- --ignored

# Both builds: the default one, and the lean one without the postgres and
# redis features, whose cfg'd-out code must not rot unseen.
lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy --no-default-features --all-targets -- -D warnings

fmt:
	$(CARGO) fmt

# Is every strategy that claims to be safe safe? Generated scenarios, all strategies.
check:
	$(STATIC) run --release --quiet --target $(HOST) -- check $(ARGS)

# Safety against speed: the same workload, every strategy, 5 runs each.
compare:
	$(STATIC) run --release --quiet --target $(HOST) -- compare --buyers $(BUYERS) $(ARGS)

# Measures file and sem against the floor and the classic Python demo, all
# in the same run, and prints every figure and ratio.
bench:
	$(STATIC) run --release --quiet --target $(HOST) -- bench $(ARGS)

# Many buyers, few connections: 10 hosts x 300 buyers of every safe pg-*
# strategy through PgBouncer on a server of 100 connections, and pg-atomic
# against pgbench over the same path (ratio printed). Needs PostgreSQL and
# PgBouncer installed; starts and removes its own. About a minute.
bench-pg:
	$(STATIC) build --release --quiet --target $(HOST)
	bench/pooler.sh target/$(HOST)/release/booking

# The price of a lock at scale: time per buyer of every safe strategy at
# 150, 1,000, 10,000 and 100,000 buyers (those the machine can start),
# beside a kernel-only benchmark of the same lock. Minutes on 2 cores. A
# strategy whose server is not given in ARGS (--store, --lock-server) is
# left out, and named on standard error.
scale:
	$(STATIC) run --release --quiet --target $(HOST) -- bench --scale $(ARGS)

# The zoo's catch rate: ROUNDS (20) default `booking check`s with seeds
# 1..ROUNDS; how often each deliberately wrong strategy is caught, and that
# no safe one is ever flagged. ARGS go to every `booking check`.
ROUNDS ?= 20
zoo:
	$(STATIC) build --release --quiet --target $(HOST)
	ROUNDS=$(ROUNDS) bench/zoo.sh target/$(HOST)/release/booking $(ARGS)

# Grade a student's strategy file (FILE=student_alice.rs) in a copy of the
# project; ARGS go to `booking grade` (--results results.json, --junit ...).
grade:
	scripts/grade-file.sh $(FILE) $(ARGS)

# A PostgreSQL for the pg-* strategies, by hand (prints the --store URL).
db:
	scripts/db.sh
db-stop:
	scripts/db.sh stop

# A Redis for the redis-* strategies, by hand (prints the --lock-server URL).
redis:
	scripts/redis.sh
redis-stop:
	scripts/redis.sh stop

clean:
	$(CARGO) clean
