"""Report files of different tenants never share a folder or an S3 key.

Ids ``X``, ``X.`` and ``.X`` (all valid portfolio ids, possibly of three users) used to map to
one folder and one key, so the last writer won and a download served another tenant's file.
"""

import datetime as dt

from sigmasight.runs.reports import report_folder, upload_files, write_atomic
from tests.s3 import moto_server, use_bucket

AS_OF = dt.date(2026, 11, 25)
TENANTS = {"X": b"alice's report", "X.": b"bob's report", ".X": b"carol's report", "..": b"dan"}


def test_each_tenant_keeps_its_own_report_file_and_object(tmp_path, monkeypatch):
    root = tmp_path / "reports"
    folders = {tenant: report_folder(root, tenant, AS_OF) for tenant in TENANTS}
    for tenant, body in TENANTS.items():
        write_atomic(folders[tenant] / "report.html", body)
    for tenant, body in TENANTS.items():
        assert (folders[tenant] / "report.html").read_bytes() == body
        assert folders[tenant].resolve().is_relative_to(root.resolve())  # never outside

    with moto_server() as endpoint:
        store = use_bucket(endpoint, monkeypatch, tmp_path)
        keys = {
            tenant: upload_files(store, tenant, AS_OF, {"html": body})["html"]
            for tenant, body in TENANTS.items()
        }
        assert len(set(keys.values())) == len(TENANTS)
        for tenant, body in TENANTS.items():
            stored = store.client.get_object(Bucket=store.bucket, Key=keys[tenant])["Body"].read()
            assert stored == body, tenant
