"""The exceptions the storage SDKs raise for a refused request, built for requests this
package writes itself (``queue_rest``, ``table_batch``), so callers handle both alike."""
from __future__ import annotations

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)

_CLASSES: dict[int, type[HttpResponseError]] = {
    401: ClientAuthenticationError,
    403: ClientAuthenticationError,
    404: ResourceNotFoundError,
    409: ResourceExistsError,
    412: ResourceModifiedError,
}


def status_error(status: int, error_code: str | None, detail: str, what: str) -> HttpResponseError:
    """The SDK's class for ``status`` (ResourceNotFoundError for 404...) with ``status_code``
    and ``error_code`` set, and a one-line text: ``what: HTTP status code: detail``. The
    response is not attached: azure-core would append its whole body to the text."""
    message = f"{what}: HTTP {status}" + (f" {error_code}" if error_code else "") + (f": {detail}" if detail else "")
    error = _CLASSES.get(status, HttpResponseError)(message=message)
    error.status_code = status
    error.error_code = error_code  # type: ignore[attr-defined] # as the storage SDKs set it
    return error
