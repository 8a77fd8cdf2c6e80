"""Settings ▸ Generation backends: this computer and the ComfyUI servers jobs can be sent to.

Servers are kept by core (backends.json for names and addresses, the keyring for tokens), and a
change here is saved at once, like ``lorastudio backends add``. "Test connection" asks the server
in a worker thread and shows what it found in one line.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from lorastudio.core.backend.comfyui.config import (
    LOCAL_NAME,
    add_backend,
    load_backends,
    load_token,
    remove_backend,
    save_token,
)
from lorastudio.core.backend.comfyui.probe import ServerInfo, check_connection
from lorastudio.core.errors import LoraStudioError
from lorastudio.core.messages import Message
from lorastudio.core.paths import DataDir
from lorastudio.qt.workers.threads import FunctionWorker, create_worker

_NAME_ROLE = Qt.ItemDataRole.UserRole


class BackendsSection(QGroupBox):
    """Signals: backends_changed() after a server was added or removed."""

    backends_changed = Signal()

    def __init__(self, data: DataDir, local_label: str = "", parent: QWidget | None = None) -> None:
        super().__init__("Generation backends", parent)
        self.data = data
        self._local_label = local_label
        self._worker: FunctionWorker | None = None  # kept after it ends: PySide6 must not free it mid-signal
        self._testing = False

        self.servers = QListWidget()
        self.servers.setAccessibleName("Generation backends")
        self.servers.setMaximumHeight(110)
        self.name = QLineEdit()
        self.name.setPlaceholderText("studio-pc")
        self.url = QLineEdit()
        self.url.setPlaceholderText("http://192.168.1.20:8188")
        self.token = QLineEdit()
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("Optional bearer token (kept in the system keyring)")
        self.add_button = QPushButton("Add")
        self.add_button.setToolTip("Add the server (or update the one with this name)")
        self.remove_button = QPushButton("Remove")
        self.test_button = QPushButton("Test connection")
        self.result = QLabel("")
        self.result.setObjectName("muted")
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("ComfyUI URL", self.url)
        form.addRow("Token", self.token)
        buttons = QHBoxLayout()
        for b in (self.add_button, self.remove_button, self.test_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addWidget(self.servers)
        lay.addLayout(form)
        lay.addLayout(buttons)
        lay.addWidget(self.result)

        self.servers.currentItemChanged.connect(self._on_server_selected)
        self.add_button.clicked.connect(self._on_add)
        self.remove_button.clicked.connect(self._on_remove)
        self.test_button.clicked.connect(self._on_test)
        self.reload()

    # -- list ----------------------------------------------------------------------------------
    def reload(self, select: str = "") -> None:
        self.servers.clear()
        local = QListWidgetItem(f"{LOCAL_NAME} — {self._local_label}" if self._local_label else LOCAL_NAME)
        local.setData(_NAME_ROLE, "")
        self.servers.addItem(local)
        for entry in load_backends(self.data):
            item = QListWidgetItem(f"{entry.name} — {entry.url}")
            item.setData(_NAME_ROLE, entry.name)
            self.servers.addItem(item)
            if entry.name == select:
                self.servers.setCurrentItem(item)
        self._update_buttons()

    def server_names(self) -> list[str]:
        return [e.name for e in load_backends(self.data)]

    def _selected_name(self) -> str:
        item = self.servers.currentItem()
        return str(item.data(_NAME_ROLE) or "") if item is not None else ""

    def _update_buttons(self) -> None:
        self.remove_button.setEnabled(bool(self._selected_name()))
        self.test_button.setEnabled(not self._testing)

    @Slot(QListWidgetItem, QListWidgetItem)
    def _on_server_selected(self, item: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        name = str(item.data(_NAME_ROLE) or "") if item is not None else ""
        entry = next((e for e in load_backends(self.data) if e.name == name), None)
        if entry is not None:
            self.name.setText(entry.name)
            self.url.setText(entry.url)
            self.token.clear()  # a stored token is never shown; typing one replaces it
        self._update_buttons()

    # -- actions -------------------------------------------------------------------------------
    @Slot()
    def _on_add(self) -> None:
        name, url, token = self.name.text().strip(), self.url.text().strip(), self.token.text().strip()
        try:
            entry = add_backend(self.data, name, url)
            notice = save_token(self.data, entry.name, token) if token else ""
        except LoraStudioError as err:
            self.result.setText(str(err))
            return
        self.token.clear()
        self.reload(select=entry.name)
        self.result.setText(notice or f"Added {entry.name} ({entry.url}).")
        self.backends_changed.emit()

    @Slot()
    def _on_remove(self) -> None:
        name = self._selected_name()
        if name and remove_backend(self.data, name):
            self.reload()
            self.result.setText(f"Removed {name}.")
            self.backends_changed.emit()

    @Slot()
    def _on_test(self) -> None:
        url = self.url.text().strip()
        if not url:
            self.result.setText("Type the server's address (like http://192.168.1.20:8188) first.")
            return
        name = self.name.text().strip()
        token = self.token.text().strip() or (load_token(self.data, name) if name else None)
        self.result.setText(f"Asking {url}…")
        worker = create_worker(check_connection, url, token)
        worker.returned.connect(self._on_test_returned)
        worker.errored.connect(self._on_test_errored)
        worker.finished.connect(self._on_test_finished)
        self._worker, self._testing = worker, True
        self._update_buttons()
        worker.start()

    @Slot(object)
    def _on_test_returned(self, info: object) -> None:
        if isinstance(info, ServerInfo):
            self.result.setText(info.summary())

    @Slot(object)
    def _on_test_errored(self, message: object) -> None:
        self.result.setText(message.text if isinstance(message, Message) else str(message))

    @Slot()
    def _on_test_finished(self) -> None:
        self._testing = False
        self._update_buttons()

    def shutdown(self) -> None:
        """Wait for a running test (it gives up after its own timeout) so no thread outlives us."""
        if self._worker is not None:
            self._worker.wait()
