"""The console scripts (``setup.cfg``'s entry points).

Importing this package silences, before anything else loads, the warning
eventlet prints when oslo.messaging imports it (through oslo.service): an
eight-line banner on every start that says nothing about an asyncio service.
"""

import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
