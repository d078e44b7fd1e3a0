"""Debian's Chromium and the switches every headless run here uses (the browser tests, and
bench/ohif_first_image.py): no sandbox as root, no GPU, nothing reaching the network on its
own."""

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
