"""Screenshots of the workspace's main pages for the README, from the demo data (synthetic only).

Run:  .venv/bin/python scripts/readme_screenshots.py [--out docs/screenshots]

Starts the demo system (hub + simulated agency connectors on memory://),
serves the hub's web app on a free loopback port, signs in through the
development issuer as each kind of user and saves one PNG per page with
Debian's chromium driven by Playwright (``pip install -e '.[test]'``;
``apt-get install chromium``). Nothing is fetched from outside loopback.
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from playwright.sync_api import sync_playwright

from mashlink.ops.demo import DemoSystem

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

#: (file name, sign-in query, path; "{red}" is the demo's red referral)
SHOTS = [
    ("referrals.png", "role=practitioner&user=amy", "/workspace/referrals"),
    ("referral.png", "role=practitioner&user=amy", "/workspace/referrals/{red}"),
    ("new-referral.png", "role=practitioner&user=amy", "/workspace/referrals/new"),
    ("deadlines.png", "role=ops&user=olu", "/workspace/ops/deadlines"),
    ("dead-letters.png", "role=ops&user=olu", "/workspace/ops/dead-letters"),
    ("audit.png", "role=auditor&user=ines", "/workspace/ops/audit"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    system = DemoSystem(state_dir=Path(tempfile.mkdtemp(prefix="mashlink-shots-")))
    system.start()
    system.wait(time.monotonic() + 60)
    red = next(rid for rid in system.referral_ids if system.service.referral_status(rid).rag.value == "red")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(system.app(), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for name, who, path in SHOTS:
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base)
                              else route.abort())
                page = context.new_page()
                page.goto(f"{base}/sign-in/dev?{who}&next={path.format(red=red)}", wait_until="networkidle")
                page.screenshot(path=str(args.out / name), full_page=False)
                print(f"{args.out / name}: {page.url.removeprefix(base)}")
                context.close()
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        system.stop()
        system.close()


if __name__ == "__main__":
    main()
