"""A Stoat test double in its own process, for benchmarks that compare clients fairly.

Prints one JSON line (urls, token, ids), then obeys stdin lines: ``prepare N`` builds N Message
frames and answers ``ready``; ``push`` writes them to every connected socket and answers
``pushed`` (so building the frames is not timed); ``ping N`` sends ``!ping`` N times as a
member, each time timing the event sent to the bot's reply received, and answers the timings
as JSON; ``quit`` stops.
"""

from __future__ import annotations

import asyncio
import json
import sys

from logiq_core.testing.stoat import StoatDouble, build_demo, new_ulid


async def main() -> None:
    async with StoatDouble(rate_limits=False) as double:
        demo = build_demo(double)
        channel = demo.channels["general"]
        print(
            json.dumps(
                {
                    "api_url": double.api_url,
                    "ws_url": double.ws_url,
                    "token": demo.bot_token,
                    "channel": channel,
                    "author": demo.member_ids[0],
                }
            ),
            flush=True,
        )
        loop = asyncio.get_running_loop()
        frames: list[str] = []
        while True:
            line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
            if not line or line == "quit":
                return
            if line.startswith("prepare "):
                count = int(line.split()[1])
                frames = [
                    json.dumps(
                        {
                            "type": "Message",
                            "_id": new_ulid(),
                            "channel": channel,
                            "author": demo.member_ids[0],
                            "content": f"benchmark message {n}",
                        }
                    )
                    for n in range(count)
                ]
                print("ready", flush=True)
            elif line.startswith("ping "):
                timings = []
                for _ in range(int(line.split()[1])):
                    waiter = asyncio.ensure_future(double.wait_for_message(channel_id=channel))
                    await asyncio.sleep(0)
                    started = loop.time()
                    await double.send_message_as(demo.member_ids[0], channel, "!ping")
                    await waiter
                    timings.append(loop.time() - started)
                print(json.dumps(timings), flush=True)
            elif line == "push":
                await double.push_raw_frames(frames)
                print("pushed", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
