"""kombu's file-system transport (the embedded mode's broker), writing each message whole.

kombu 5.7 creates a message's file under its final name and then writes it: a worker listing the
folder in between takes the empty file, fails to decode it and stops ("Unrecoverable error:
JSONDecodeError"); a process killed in between leaves the empty file for every worker after it. Here
a message is written under a name the readers skip, then renamed into place (atomic on one file
system), so a reader sees a whole message or none.
"""

import os
import uuid
from time import monotonic
from typing import Any

from kombu.transport import filesystem as kombu_filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(kombu_filesystem.Channel):
    def _put(self, queue: Any, message: Any, **kwargs: Any) -> None:  # type: ignore[override]
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        # Readers take only names ending in "<queue>.msg".
        partial = f"{final}.partial"
        try:
            with open(partial, "wb") as file:
                file.write(str_to_bytes(dumps(message)))
            os.replace(partial, final)
        except OSError as error:
            raise kombu_filesystem.ChannelError(f"Cannot add file {final!r} to directory") from error


class Transport(kombu_filesystem.Transport):
    Channel = Channel
