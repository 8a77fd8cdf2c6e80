"""The session model: the application's state and logic without Qt.

Generation parameters, the LoRA mix, the settings store, the library index and the job queue live
here; widgets bind to them (qt/) and the CLI can drive them too. Jobs go to a ``Backend``
(core/backend). This layer sits above core.library, core.engine, core.hub and core.text.
"""
