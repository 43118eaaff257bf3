#!/usr/bin/env python3
"""The lab's notification consumer, as the lab wrote it: the baseline of benchmark case 7.

One Kafka consumer (confluent-kafka, auto-commit) that turns each `UserCreated` event into
an HTML file, `welcome_<id>.html`, with a template filled by `str.replace` and written with
a plain `open().write()`: no temporary file, no fsync, nothing held back until the file is
on disk. Other event types are skipped, as the lab's consumer skips what it has no handler
for. It runs until it is stopped, like the lab's; the benchmark times it from its start to
the last expected file and then stops it.

    lab_consumer.py --bootstrap HOST:PORT --topic T --group G --output DIR --templates DIR

The templates are coolriel's own HTML welcome templates (one per user type), read once at
start-up; their `{{name}}`-style placeholders are filled by `str.replace`, the lab's way,
so both consumers write the same size of file for the same event.
"""

import argparse
import json
import os
import signal
import sys

from confluent_kafka import Consumer

USER_TYPES = {1: "client", 2: "employee", 3: "manager"}


def load_templates(directory):
    templates = {}
    for type_id, slug in USER_TYPES.items():
        with open(os.path.join(directory, f"welcome_{slug}.html.hbs"), encoding="utf-8") as f:
            templates[type_id] = f.read()
    return templates


def render(template, event, user_type):
    return (
        template.replace("{{name}}", event["name"])
        .replace("{{email}}", event["email"])
        .replace("{{user_id}}", str(event["id"]))
        .replace("{{user_type}}", user_type)
        .replace("{{date}}", event["datetime"])
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--templates", required=True)
    args = parser.parse_args()

    templates = load_templates(args.templates)
    os.makedirs(args.output, exist_ok=True)
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap,
            "group.id": args.group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": True,
        }
    )
    consumer.subscribe([args.topic])
    running = True

    def stop(*_):
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while running:
        message = consumer.poll(0.5)
        if message is None or message.error():
            continue
        event = json.loads(message.value())
        if event.get("event") != "UserCreated":
            continue
        type_id = event.get("user_type_id") or 1
        template = templates.get(type_id, templates[1])
        path = os.path.join(args.output, f"welcome_{event['id']}.html")
        with open(path, "w", encoding="utf-8") as f:
            f.write(render(template, event, USER_TYPES.get(type_id, "client")))
    consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
