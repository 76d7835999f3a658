#!/usr/bin/python3
"""silent_secrets.py: a Secret Service that never answers.

Owns org.freedesktop.secrets on the session bus and drops every method call
sent to it, as a keyring waiting on an unlock prompt nobody sees would keep
its callers waiting.  Prints "ready" once it owns the name; runs until
killed.  test_creds uses it to prove that shelf gives up after
SHELF_KEYRING_TIMEOUT_MS instead of hanging.  Needs python3-gi."""
import sys

from gi.repository import Gio, GLib


def drop_calls(conn, msg, incoming):
    if incoming and msg.get_message_type() == Gio.DBusMessageType.METHOD_CALL \
            and msg.get_destination() != "org.freedesktop.DBus":
        return None
    return msg


def main():
    loop = GLib.MainLoop()
    conn = Gio.bus_get_sync(Gio.BusType.SESSION, None)
    conn.add_filter(drop_calls)
    reply = conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                           "org.freedesktop.DBus", "RequestName",
                           GLib.Variant("(su)", ("org.freedesktop.secrets", 4)),
                           GLib.VariantType("(u)"), Gio.DBusCallFlags.NONE, 5000, None)
    if reply.unpack()[0] != 1:
        print("cannot own org.freedesktop.secrets", file=sys.stderr)
        sys.exit(1)
    print("ready", flush=True)
    loop.run()


main()
