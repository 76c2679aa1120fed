"""dsn.py - read delivery status notifications (RFC 3464) out of a spool record."""

import email
import email.policy
import re


def parse(record):
    """Parse a receiver spool record's message; returns an email.message."""
    return email.message_from_string(record["data"], policy=email.policy.compat32)


def _unfold(value):
    """RFC 5322 2.2.3: a folded field is unfolded by removing each CRLF
    that is followed by white space."""
    return re.sub(r"\r?\n(?=[ \t])", "", value)


def _fields(block):
    return {k.lower(): _unfold(v).strip() for k, v in block.items()}


def report(record):
    """If record is a multipart/report DSN: (message, per_message_fields,
    [per_recipient_fields...]) with lower-case field names; else None."""
    msg = parse(record)
    if msg.get_content_type() != "multipart/report":
        return None
    if (msg.get_param("report-type") or "").lower() != "delivery-status":
        return None
    for part in msg.walk():
        if part.get_content_type() == "message/delivery-status":
            blocks = part.get_payload()
            if isinstance(blocks, str):
                blocks = _blocks_from_text(blocks)
            if not blocks:
                return None
            return msg, _fields(blocks[0]), [_fields(b) for b in blocks[1:]]
    return None


def _blocks_from_text(text):
    """Fallback when the part body was not split into header blocks."""
    out = []
    for chunk in text.replace("\r\n", "\n").split("\n\n"):
        if chunk.strip():
            out.append(email.message_from_string(chunk))
    return out


def for_recipient(records, rcpt):
    """DSNs among records whose per-recipient block names rcpt.
    Returns a list of (record, message, per_message, rcpt_fields)."""
    hits = []
    for rec in records:
        rep = report(rec)
        if rep is None:
            continue
        msg, per_msg, per_rcpt = rep
        for f in per_rcpt:
            fr = f.get("final-recipient", "") + " " + f.get("original-recipient", "")
            if rcpt.lower() in fr.lower():
                hits.append((rec, msg, per_msg, f))
    return hits


def returned_content(msg):
    """The returned message or headers part (message/rfc822 or
    text/rfc822-headers) as text, or ""."""
    for part in msg.walk():
        ct = part.get_content_type()
        if ct == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner:
                return inner[0].as_string()
            return str(inner)
        if ct == "text/rfc822-headers":
            return part.get_payload(decode=True).decode("utf-8", "replace")
    return ""
