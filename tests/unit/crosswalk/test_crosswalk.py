import pytest

from huiliu.crosswalk import Crosswalk, CrosswalkConflict, MasterData, golden_id_for
from huiliu.sandbox.company import make_company
from huiliu.store import Database
from huiliu.testing import FakeClock


def test_link_is_idempotent_and_refuses_conflicts(db: Database, clock: FakeClock) -> None:
    cw = Crosswalk(clock)
    golden = golden_id_for("approval", "dingtalk", "inst-1")
    assert golden == golden_id_for("approval", "dingtalk", "inst-1") != golden_id_for("approval", "dingtalk", "i2")
    with db.begin() as conn:
        cw.link(conn, entity="approval", golden_id=golden, system="kingdee", native_type="GL_VOUCHER",
                native_id="100001", native_number="记-0001")
        again = cw.link(conn, entity="approval", golden_id=golden, system="kingdee", native_type="GL_VOUCHER",
                        native_id="100001")
        assert again.native_number == "记-0001"
        # the same voucher cannot belong to a second approval
        with pytest.raises(CrosswalkConflict) as taken:
            cw.link(conn, entity="approval", golden_id="other", system="kingdee", native_type="GL_VOUCHER",
                    native_id="100001")
        assert "100001" in str(taken.value)
        # and one approval cannot get a second voucher
        with pytest.raises(CrosswalkConflict) as second:
            cw.link(conn, entity="approval", golden_id=golden, system="kingdee", native_type="GL_VOUCHER",
                    native_id="100002")
        assert "100001" in str(second.value)
        assert "重复单据" in str(second.value)
        assert cw.golden_id(conn, system="kingdee", native_type="GL_VOUCHER", native_id="100001") == golden
        assert cw.golden_id(conn, system="kingdee", native_type="GL_VOUCHER", native_id="nope") is None
        assert [link.native_id for link in cw.links(conn, entity="approval", golden_id=golden)] == ["100001"]


def test_masterdata_lookup_by_oa_user_id(db: Database, clock: FakeClock) -> None:
    company = make_company(3)
    md = MasterData(Crosswalk(clock))
    with db.begin() as conn:
        md.load(conn, depts=company.departments, people=company.employees, centers=company.cost_centers,
                oa_system="dingtalk")
        md.load(conn, depts=company.departments, people=company.employees, centers=company.cost_centers,
                oa_system="dingtalk")  # loading again is harmless
    person = company.employees[5]
    assert person.oa_user_id is not None
    with db.read() as conn:
        found = md.lookup(conn, "employee", "dingtalk", person.oa_user_id)
        by_number = md.lookup(conn, "employee", "hub", person.number)
        missing = md.lookup(conn, "employee", "dingtalk", "no-such-user")
        dept = md.lookup(conn, "department", "hub", person.department_number)
    assert found == by_number
    assert found is not None
    assert found["name"] == person.name
    assert found["department_number"] == person.department_number
    assert found["department_name"] == next(d.name for d in company.departments
                                            if d.number == person.department_number)
    assert missing is None
    assert dept is not None
    assert dept["number"] == person.department_number
