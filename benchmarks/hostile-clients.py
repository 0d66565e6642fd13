#!/usr/bin/env python3
"""Hostile clients against one front door, for benchmarks/hostile-clients.sh.

Opens SLOWLORIS connections that send a request head a header line at a time (one every DRIP
seconds, never finishing it) and IDLE connections that send nothing, keeps them open for SECONDS,
and reopens any the server closes. Prints how many were open at the end. Loopback only.
"""
import asyncio
import sys


async def slowloris(port, index, drip, stop):
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"GET /slow-{index} HTTP/1.1\r\nHost: bench\r\n".encode())
            await writer.drain()
            line = 0
            while not stop.is_set() and not reader.at_eof():
                try:
                    await asyncio.wait_for(stop.wait(), drip)
                except asyncio.TimeoutError:
                    pass
                writer.write(f"X-Drip-{line}: {line}\r\n".encode())
                line += 1
                await writer.drain()
            writer.close()
        except (ConnectionError, OSError):
            await asyncio.sleep(0.5)


async def idle(port, stop, opened):
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            opened[0] += 1
            await asyncio.wait([asyncio.ensure_future(stop.wait()), asyncio.ensure_future(reader.read())],
                               return_when=asyncio.FIRST_COMPLETED)
            opened[0] -= 1
            writer.close()
        except (ConnectionError, OSError):
            await asyncio.sleep(0.5)


async def main():
    port, slow, idle_count, seconds, drip = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
    stop = asyncio.Event()
    opened = [0]
    tasks = [asyncio.ensure_future(slowloris(port, i, drip, stop)) for i in range(slow)]
    tasks += [asyncio.ensure_future(idle(port, stop, opened)) for _ in range(idle_count)]
    await asyncio.sleep(seconds)
    print(f"idle connections open at the end: {opened[0]} of {idle_count}", flush=True)
    stop.set()
    await asyncio.wait(tasks, timeout=5)


asyncio.run(main())
