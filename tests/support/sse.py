"""Read a server-sent event stream over real HTTP, as a browser's EventSource would."""

import http.client
import json
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class StreamEvent:
    id: str | None
    event: str
    data: dict


def parse_events(lines: Iterable[str]) -> Iterator["StreamEvent | str"]:
    """Yield each event of an SSE body (an iterable of decoded lines), and each comment as a str."""
    fields: dict[str, str] = {}
    data: list[str] = []
    for line in lines:
        if line == "":  # a blank line ends an event
            if data:
                yield StreamEvent(fields.get("id"), fields.get("event", "message"), json.loads("\n".join(data)))
            fields, data = {}, []
        elif line.startswith(":"):
            yield line[1:].strip()
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                data.append(value)
            else:
                fields[name] = value


@dataclass
class StreamReader:
    """Read one stream in a thread: `events` grows as they arrive; `closed` is set when the server ends it."""

    url: str
    headers: dict
    events: list[StreamEvent] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    status_code: int | None = None
    closed: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def start(self) -> "StreamReader":
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def statuses(self) -> list[str]:
        return [event.data["status"] for event in self.events if event.event == "status"]

    def last_event_id(self) -> str | None:
        return next((event.id for event in reversed(self.events) if event.id), None)

    def _read(self) -> None:
        # http.client, not requests: its readline() returns each line as soon as it arrives,
        # where requests' iter_lines() waits for a full chunk of bytes.
        url = urlsplit(self.url)
        connection = http.client.HTTPConnection(url.hostname or "localhost", url.port, timeout=120)
        try:
            path = url.path + (f"?{url.query}" if url.query else "")
            connection.request("GET", path, headers={"Accept": "text/event-stream", **self.headers})
            response = connection.getresponse()
            self.status_code = response.status
            if response.status != 200:
                return
            lines = (line.decode().rstrip("\r\n") for line in iter(response.readline, b""))
            for item in parse_events(lines):
                if isinstance(item, StreamEvent):
                    self.events.append(item)
                else:
                    self.comments.append(item)
        except BaseException as error:  # reported by the test, not lost in the thread
            self.error = error
        finally:
            connection.close()
            self.closed.set()
