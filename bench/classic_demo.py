"""The classic Python ticket-grab demo, as `booking bench` measures it.

150 processes (multiprocessing, fork start method on Linux) share a Lock;
each reads {"count": N} from a JSON file, sleeps the simulated network
delay, and writes count - 1 back. Kept faithful to the original, including
its truncate-then-write save (which the lock makes safe here).

Usage: python3 classic_demo.py STOCK_FILE BUYERS DELAY_SECONDS
Prints the milliseconds from starting the first process to joining the last.
"""

import json
import sys
import time
from multiprocessing import Lock, Process


def get(lock, path, delay):
    with lock:
        with open(path) as f:
            dic = json.load(f)
        if dic["count"] > 0:
            time.sleep(delay)
            dic["count"] -= 1
            with open(path, "w") as f:
                json.dump(dic, f)


def main():
    path, buyers, delay = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    lock = Lock()
    start = time.perf_counter()
    procs = [Process(target=get, args=(lock, path, delay)) for _ in range(buyers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - start
    with open(path) as f:
        remaining = json.load(f)["count"]
    print(f"{elapsed * 1000:.3f} {remaining}")


if __name__ == "__main__":
    main()
