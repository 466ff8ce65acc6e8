"""The question log: what was asked where, how it went, what people thought of it, and which questions went to a
consultant. Every front door (Slack, Teams) writes here; digests and reports read from here.

Privacy by construction: askers are stored as pseudonyms (a keyed hash of the platform's user id), the text of a
question only when `ADVISOR_STORE_QUESTION_TEXT` is set (and then without e-mail addresses or phone numbers).

It also keeps *claims*: "this event was handled" records that several replicas of a front door share, so a retried
or twice-delivered event is acted on once. Any SQLAlchemy URL works (`ADVISOR_STATE_URL`); the default is a SQLite
file beside the store.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import re
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import (JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, TypeDecorator,
                        UniqueConstraint, create_engine, delete, event, func, select, text, update)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from advisor.settings import Settings
from engine.models import Answer
from ingest.changes import DocumentChange as KnowledgeChange, IngestRun

MAX_COMMENT_CHARS = 2000
DIGEST_CLAIM_TIMEOUT = dt.timedelta(minutes=15)


class UnknownQuestion(LookupError):
    """Feedback or an escalation for a question id the log does not hold."""


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_PHONE = re.compile(r"(?<!\w)\+?\d[\d ()./-]{7,}\d")
# Mentions as the platforms deliver them: Slack `<@U123|name>`, Teams `<at>Jane Doe</at>`, typed `@Jane Doe`.
_MENTION = re.compile(r"<@[^>]+>|<at>.*?</at>|@[A-Z\u00C0-\u024F][\w.'-]*(?:\s+[A-Z\u00C0-\u024F][\w.'-]*)*")
CLOSEST_SOURCES = 3
PSEUDONYM_KEY_FILE = "pseudonym.key"  # beside a SQLite state database


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class _UTC(TypeDecorator):
    """Timezone-aware UTC datetimes on every database (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        return value.astimezone(dt.timezone.utc) if value is not None else None

    def process_result_value(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value


class _Base(DeclarativeBase):
    pass


class QuestionRow(_Base):
    __tablename__ = "questions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(_UTC, index=True)
    platform: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(64))
    conversation: Mapped[str | None] = mapped_column(String(128), index=True)
    asker: Mapped[str] = mapped_column(String(64), index=True)
    language: Mapped[str] = mapped_column(String(8))
    abstained: Mapped[bool] = mapped_column(Boolean)
    sources: Mapped[list[str]] = mapped_column(JSON)
    evidence: Mapped[float] = mapped_column(Float)
    latency_ms: Mapped[float] = mapped_column(Float)
    question: Mapped[str | None] = mapped_column(Text)
    # The documents retrieval ranked highest, cited or not: for an abstention, where the knowledge gap lies.
    closest: Mapped[list[str]] = mapped_column(JSON, default=list)


class QuestionTopicsRow(_Base):
    """What a question was about without its words: the knowledge base's words it used (engine/topics.py), the
    sections that came closest, and its embedding, so the consultants' report groups gaps by meaning. A table of
    its own, so logs written before it existed gain it without a migration."""

    __tablename__ = "question_topics"

    question_id: Mapped[str] = mapped_column(ForeignKey("questions.id"), primary_key=True)
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    sections: Mapped[list[list[str]]] = mapped_column(JSON, default=list)  # [source, section] of the closest
    vector: Mapped[list[float] | None] = mapped_column(JSON, nullable=True)


class FeedbackRow(_Base):
    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("question_id", "rater"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    question_id: Mapped[str] = mapped_column(ForeignKey("questions.id"), index=True)
    rater: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(_UTC, index=True)
    helpful: Mapped[bool] = mapped_column(Boolean)
    comment: Mapped[str | None] = mapped_column(Text)


class EscalationRow(_Base):
    __tablename__ = "escalations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    question_id: Mapped[str] = mapped_column(ForeignKey("questions.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(_UTC, index=True)
    platform: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(64))
    asker: Mapped[str] = mapped_column(String(64))


class ClaimRow(_Base):
    __tablename__ = "claims"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(_UTC, index=True)


class KnowledgeChangeRow(_Base):
    """A document added, updated or removed by an ingest run (for the digest's "what is new")."""

    __tablename__ = "knowledge_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(_UTC, index=True)
    kind: Mapped[str] = mapped_column(String(16))
    doc_id: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(512))
    title: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text)
    url: Mapped[str] = mapped_column(Text)


class DigestRow(_Base):
    """One digest for one channel and ISO week: claimed before posting, so it is posted once at most."""

    __tablename__ = "digests"

    channel: Mapped[str] = mapped_column(String(160), primary_key=True)
    week: Mapped[str] = mapped_column(String(10), primary_key=True)
    claimed_at: Mapped[dt.datetime] = mapped_column(_UTC)
    posted_at: Mapped[dt.datetime | None] = mapped_column(_UTC, nullable=True)
    message_id: Mapped[str | None] = mapped_column(String(255), nullable=True)


class MetaRow(_Base):
    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


@dataclass(frozen=True)
class LoggedQuestion:
    id: str
    at: dt.datetime
    platform: str
    channel: str
    conversation: str | None
    asker: str
    language: str
    abstained: bool
    sources: list[str]
    evidence: float
    latency_ms: float
    question: str | None
    closest: list[str]
    topics: tuple[str, ...] = ()
    sections: tuple[tuple[str, str], ...] = ()  # (source, section) of the sections that came closest
    vector: tuple[float, ...] | None = None


@dataclass(frozen=True)
class LoggedFeedback:
    question_id: str
    rater: str
    at: dt.datetime
    helpful: bool
    comment: str | None


@dataclass(frozen=True)
class LoggedEscalation:
    question_id: str
    at: dt.datetime
    platform: str
    channel: str
    asker: str


def pseudonymise(salt: str, *parts: str) -> str:
    """A stable pseudonym for an identity (e.g. platform, workspace, user id): HMAC-SHA256 keyed with the salt,
    80 bits in hex. Without the salt it cannot be reversed by hashing every known user id."""
    message = "\x1f".join(parts).encode("utf-8")
    return hmac.new(salt.encode("utf-8"), message, hashlib.sha256).hexdigest()[:20]


def scrub(text: str) -> str:
    """Question text as it may be stored: e-mail addresses, phone numbers and mentioned people removed."""
    return _MENTION.sub("[name]", _PHONE.sub("[phone]", _EMAIL.sub("[email]", text)))


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets readers work while one writer writes; front doors answer from several threads at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Deleted rows are overwritten, not left in free pages: an erased official's questions must be gone.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


class StateError(ValueError):
    """The state database cannot be used as configured; the message says what to set."""


class QuestionLog:
    """The question log over one database; safe to share between threads and between processes.

    Pseudonyms are keyed hashes, and the key is never kept in the database they are stored in: whoever has a copy
    of the database alone cannot link a pseudonym to a user id. `salt` is the key (ADVISOR_PSEUDONYM_SALT); without
    it, a SQLite log keeps a random key in `key_file` (owner-only permissions), and a shared database (PostgreSQL)
    is refused, since each machine would otherwise make its own key."""

    def __init__(self, url: str, *, salt: str | None = None, key_file: Path | None = None, store_text: bool = False):
        database = make_url(url)
        if database.get_backend_name() == "sqlite" and database.database not in (None, "", ":memory:"):
            Path(database.database).parent.mkdir(parents=True, exist_ok=True)
        if not salt and key_file is None:
            raise StateError("Set ADVISOR_PSEUDONYM_SALT to a long random secret: with a shared state database "
                             "(ADVISOR_STATE_URL) every instance must use the same key, and it is not kept in the "
                             "database.")
        self.engine = make_engine(url)
        self.store_text = store_text
        _create_tables(self.engine)
        self._salt = salt or self._file_key(key_file)

    @classmethod
    def from_settings(cls, settings: Settings) -> QuestionLog:
        salt = settings.pseudonym_salt.get_secret_value() if settings.pseudonym_salt else None
        database = make_url(settings.state_database_url)
        local = database.get_backend_name() == "sqlite" and database.database not in (None, "", ":memory:")
        key_file = Path(database.database).with_name(PSEUDONYM_KEY_FILE) if local else None
        return cls(settings.state_database_url, salt=salt, key_file=key_file, store_text=settings.store_question_text)

    def _file_key(self, path: Path) -> str:
        """The key in `path`, made on first use. A log written before keys left the database has its key there:
        it moves to the file (so pseudonyms already stored stay the same) and out of the database."""
        if not path.exists():
            with Session(self.engine) as session:
                row = session.get(MetaRow, "pseudonym_salt")
                _write_key_once(path, row.value if row is not None else secrets.token_hex(32))
        key = _read_key(path)
        with Session(self.engine) as session, session.begin():
            # Only a log from before the move has the row: start-up stays a read otherwise.
            moved = session.get(MetaRow, "pseudonym_salt") is not None
            if moved:
                session.execute(delete(MetaRow).where(MetaRow.key == "pseudonym_salt"))
        if moved:
            self._checkpoint()
        return key

    def pseudonym(self, *parts: str) -> str:
        """The stored (and logged) form of a user: e.g. `log.pseudonym("slack", team_id, user_id)`."""
        return pseudonymise(self._salt, *parts)

    def ping(self) -> None:
        """Raises when the database cannot be reached (health checks)."""
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    # -- writing --------------------------------------------------------------------------------------------

    def record_question(self, answer: Answer, *, platform: str, channel: str, asker: str,
                        conversation: str | None = None, latency_ms: float = 0.0,
                        at: dt.datetime | None = None) -> str:
        """Log an answered question; `answer.id` must be set (it is the id feedback and escalations refer to)."""
        if not answer.id:
            raise ValueError("The answer needs an id to be logged.")
        sources = list(dict.fromkeys(c.source for c in answer.citations))
        row = QuestionRow(
            id=answer.id, at=at or utcnow(), platform=platform, channel=channel, conversation=conversation,
            asker=asker, language=answer.language, abstained=answer.abstained, sources=sources,
            evidence=answer.evidence, latency_ms=round(latency_ms, 1),
            question=scrub(answer.question) if self.store_text else None,
            closest=list(dict.fromkeys(p.source for p in answer.retrieved))[:CLOSEST_SOURCES],
        )
        about = QuestionTopicsRow(question_id=answer.id, topics=answer.topics, vector=answer.vector,
                                  sections=[[p.source, p.section] for p in answer.retrieved[:CLOSEST_SOURCES]])
        with Session(self.engine) as session, session.begin():
            session.merge(row)
            session.flush()
            session.merge(about)
        return answer.id

    def record_feedback(self, question_id: str, *, rater: str, helpful: bool, comment: str | None = None,
                        at: dt.datetime | None = None) -> None:
        """One opinion per person and answer: a second click or a comment updates the first."""
        values = {"helpful": helpful, "at": at or utcnow()}
        if comment is not None:
            # A comment is the official's own words, like a question: kept only where question text is, scrubbed.
            values["comment"] = (scrub(comment.strip()[:MAX_COMMENT_CHARS]) or None) if self.store_text else None
        with Session(self.engine) as session, session.begin():
            _require_question(session, question_id)
            changed = session.execute(update(FeedbackRow).where(FeedbackRow.question_id == question_id,
                                                                FeedbackRow.rater == rater).values(**values))
            if changed.rowcount:
                return
            try:
                with session.begin_nested():
                    session.add(FeedbackRow(question_id=question_id, rater=rater, **values))
            except IntegrityError:  # another replica inserted the same opinion just now
                session.execute(update(FeedbackRow).where(FeedbackRow.question_id == question_id,
                                                          FeedbackRow.rater == rater).values(**values))

    def record_escalation(self, question_id: str, *, platform: str, channel: str, asker: str,
                          at: dt.datetime | None = None) -> None:
        with Session(self.engine) as session, session.begin():
            _require_question(session, question_id)
            session.add(EscalationRow(question_id=question_id, at=at or utcnow(), platform=platform,
                                      channel=channel, asker=asker))

    def claim(self, key: str) -> bool:
        """True for the first caller with this key, on any replica; False for every later one."""
        try:
            with Session(self.engine) as session, session.begin():
                session.add(ClaimRow(key=key[:255], at=utcnow()))
        except IntegrityError:
            return False
        return True

    def forget_claims(self, older_than: dt.timedelta) -> int:
        """Drop claims nobody will ask about again (retries come within minutes)."""
        with Session(self.engine) as session, session.begin():
            return session.execute(delete(ClaimRow).where(ClaimRow.at < utcnow() - older_than)).rowcount

    def sync_knowledge_changes(self, runs: list[IngestRun]) -> int:
        """Copy ingest runs (ingest's own record beside the store) that the log does not hold yet; idempotent, so
        both `advisor ingest` and the digest job call it. Returns the number of changes added."""
        with Session(self.engine) as session, session.begin():
            latest = session.scalar(select(func.max(KnowledgeChangeRow.at)))
            new = [(run.at, c) for run in runs if latest is None or run.at > latest for c in run.changes]
            session.add_all(KnowledgeChangeRow(at=at, kind=c.kind, doc_id=c.doc_id, source=c.source, title=c.title,
                                               summary=c.summary, url=c.url) for at, c in new)
            return len(new)

    def claim_digest(self, channel: str, week: str, *, stale_after: dt.timedelta = DIGEST_CLAIM_TIMEOUT) -> bool:
        """True when this caller may post the digest for (channel, week): the first claim wins on any replica.

        A claim that was never marked posted and is older than `stale_after` belongs to a run that crashed before
        posting; it may be taken over. The window is much longer than one post takes, so a slow run is not doubled.
        """
        now = utcnow()
        try:
            with Session(self.engine) as session, session.begin():
                session.add(DigestRow(channel=channel, week=week, claimed_at=now))
            return True
        except IntegrityError:
            pass
        with Session(self.engine) as session, session.begin():
            taken = session.execute(update(DigestRow).where(
                DigestRow.channel == channel, DigestRow.week == week, DigestRow.posted_at.is_(None),
                DigestRow.claimed_at < now - stale_after).values(claimed_at=now))
            return taken.rowcount == 1

    def release_digest(self, channel: str, week: str) -> None:
        """Give a claim back after a failed post, so the next run tries again."""
        with Session(self.engine) as session, session.begin():
            session.execute(delete(DigestRow).where(DigestRow.channel == channel, DigestRow.week == week,
                                                    DigestRow.posted_at.is_(None)))

    def mark_digest_posted(self, channel: str, week: str, message_id: str) -> None:
        with Session(self.engine) as session, session.begin():
            session.execute(update(DigestRow).where(DigestRow.channel == channel, DigestRow.week == week)
                            .values(posted_at=utcnow(), message_id=message_id[:255]))

    def purge(self, older_than: dt.timedelta, now: dt.datetime | None = None) -> int:
        """Enforce the retention period: questions (with their feedback and escalations) older than it go.
        Returns the number of questions removed."""
        cutoff = (now or utcnow()) - older_than
        with Session(self.engine) as session, session.begin():
            old = select(QuestionRow.id).where(QuestionRow.at < cutoff)
            session.execute(delete(QuestionTopicsRow).where(QuestionTopicsRow.question_id.in_(old)))
            session.execute(delete(FeedbackRow).where(FeedbackRow.question_id.in_(old)))
            session.execute(delete(EscalationRow).where(EscalationRow.question_id.in_(old)))
            removed = session.execute(delete(QuestionRow).where(QuestionRow.at < cutoff)).rowcount
            session.execute(delete(ClaimRow).where(ClaimRow.at < cutoff))
            return removed

    def export_person(self, person: str) -> dict[str, list[dict]]:
        """Everything the log holds about one pseudonymised person (a data-subject access request)."""
        return {
            "questions": [asdict(q) for q in self.questions() if q.asker == person],
            "feedback": [asdict(f) for f in self.feedback() if f.rater == person],
            "escalations": [asdict(e) for e in self.escalations() if e.asker == person],
        }

    def forget_person(self, person: str) -> dict[str, int]:
        """Erase one pseudonymised person: their questions (and what hangs off them), feedback and escalations."""
        with Session(self.engine) as session, session.begin():
            theirs = select(QuestionRow.id).where(QuestionRow.asker == person)
            session.execute(delete(QuestionTopicsRow).where(QuestionTopicsRow.question_id.in_(theirs)))
            feedback = session.execute(delete(FeedbackRow).where(
                (FeedbackRow.rater == person) | FeedbackRow.question_id.in_(theirs))).rowcount
            escalations = session.execute(delete(EscalationRow).where(
                (EscalationRow.asker == person) | EscalationRow.question_id.in_(theirs))).rowcount
            questions = session.execute(delete(QuestionRow).where(QuestionRow.asker == person)).rowcount
        self._checkpoint()
        return {"questions": questions, "feedback": feedback, "escalations": escalations}

    def _checkpoint(self) -> None:
        """Copy SQLite's write-ahead log into the database and empty it, so erased text does not linger there while
        a front door keeps the database open."""
        if self.engine.dialect.name == "sqlite":
            with self.engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    # -- reading --------------------------------------------------------------------------------------------

    def in_conversation(self, platform: str, conversation: str) -> bool:
        """Whether the advisor has answered in this conversation (e.g. a Slack thread) before."""
        with Session(self.engine) as session:
            found = session.execute(select(QuestionRow.id).where(QuestionRow.platform == platform,
                                                                 QuestionRow.conversation == conversation).limit(1))
            return found.first() is not None

    def questions(self, since: dt.datetime | None = None, until: dt.datetime | None = None) -> list[LoggedQuestion]:
        query = select(QuestionRow, QuestionTopicsRow).outerjoin(
            QuestionTopicsRow, QuestionTopicsRow.question_id == QuestionRow.id).order_by(QuestionRow.at)
        query = _between(query, QuestionRow.at, since, until)
        with Session(self.engine) as session:
            return [LoggedQuestion(
                id=r.id, at=r.at, platform=r.platform, channel=r.channel, conversation=r.conversation, asker=r.asker,
                language=r.language, abstained=r.abstained, sources=list(r.sources), evidence=r.evidence,
                latency_ms=r.latency_ms, question=r.question, closest=list(r.closest or []), **_about(about))
                for r, about in session.execute(query)]

    def feedback(self, since: dt.datetime | None = None, until: dt.datetime | None = None) -> list[LoggedFeedback]:
        query = _between(select(FeedbackRow).order_by(FeedbackRow.at), FeedbackRow.at, since, until)
        with Session(self.engine) as session:
            return [LoggedFeedback(question_id=r.question_id, rater=r.rater, at=r.at, helpful=r.helpful,
                                   comment=r.comment) for r in session.scalars(query)]

    def escalations(self, since: dt.datetime | None = None, until: dt.datetime | None = None) -> list[LoggedEscalation]:
        query = _between(select(EscalationRow).order_by(EscalationRow.at), EscalationRow.at, since, until)
        with Session(self.engine) as session:
            return [LoggedEscalation(question_id=r.question_id, at=r.at, platform=r.platform, channel=r.channel,
                                     asker=r.asker) for r in session.scalars(query)]

    def knowledge_changes(self, since: dt.datetime | None = None,
                          until: dt.datetime | None = None) -> list[tuple[dt.datetime, KnowledgeChange]]:
        query = _between(select(KnowledgeChangeRow).order_by(KnowledgeChangeRow.id), KnowledgeChangeRow.at,
                         since, until)
        with Session(self.engine) as session:
            return [(r.at, KnowledgeChange(kind=r.kind, doc_id=r.doc_id, source=r.source, title=r.title,
                                           summary=r.summary, url=r.url)) for r in session.scalars(query)]

    def digest_message(self, channel: str, week: str) -> str | None:
        """The platform's id of the digest posted to `channel` in `week`, if it was."""
        with Session(self.engine) as session:
            row = session.get(DigestRow, (channel, week))
            return row.message_id if row is not None else None

    def close(self) -> None:
        self.engine.dispose()


def _create_tables(engine: Engine, attempts: int = 10) -> None:
    """Create missing tables. Processes starting together (replicas, two cron runs) race between checking and
    creating; whoever loses retries and then finds the tables there."""
    for attempt in range(attempts):
        try:
            _Base.metadata.create_all(engine)
            return
        except OperationalError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.1 * (attempt + 1))


def _about(row: QuestionTopicsRow | None) -> dict:
    if row is None:
        return {}
    return {"topics": tuple(row.topics or ()), "sections": tuple(tuple(s) for s in row.sections or ()),
            "vector": tuple(row.vector) if row.vector else None}


def _write_key_once(path: Path, key: str) -> None:
    """Create the key file with owner-only permissions, unless another process got there first (its key wins)."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key)
    try:
        os.link(temporary, path)  # fails if the file exists: creating it is one step, never half a key
    except FileExistsError:
        pass
    finally:
        temporary.unlink()


def _read_key(path: Path) -> str:
    key = path.read_text(encoding="utf-8").strip()
    if len(key) < 16:
        raise StateError(f"The pseudonym key file {path} is empty or too short; restore it from a backup (without "
                         "it, stored pseudonyms no longer match their users) or set ADVISOR_PSEUDONYM_SALT.")
    return key


def _require_question(session: Session, question_id: str) -> None:
    if session.get(QuestionRow, question_id) is None:
        raise UnknownQuestion(question_id)


def _between(query, column, since: dt.datetime | None, until: dt.datetime | None):
    if since is not None:
        query = query.where(column >= since)
    if until is not None:
        query = query.where(column < until)
    return query
