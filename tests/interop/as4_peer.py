"""An independent AS4 peer for the interoperability tests: the PyPI package `as4` (0.2.0), configured with the
SDK transport profile's values (DIGG's party type, roles, Service and type, Action, originalSender/finalRecipient).

    as4_peer.py send    --key K --cert C --to-cert R --from ID --to ID --action A --original-sender P
                        --final-recipient P --payload F --out-body F --out-type F --state F
    as4_peer.py receive --key K --cert C --from ID --to ID --anchor CA --intermediate CA --body F --type F
                        --out-payload F --out-receipt F
    as4_peer.py check-receipt --key K --cert C --to-cert R --from ID --to ID --state F --receipt F

Each prints one JSON line; exit 0 on success, 1 when the peer refused.

`as4` ships only a Peppol profile; the classes below replace its UserMessage and SBDH steps and keep all of its
WS-Security machinery (sign, gzip, encrypt, receipts).
"""
import gzip
from datetime import UTC, datetime
from typing import Any, Self

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from pydantic import BaseModel, ConfigDict, Field

from as4 import AS4ExternalParty, AS4InternalParty, AS4References
from as4.core.message import AS4Message
from as4.models.common import NAMESPACES
from as4.models.ebms.message_info import MessageId, MessageInfo, Timestamp
from as4.models.ebms.user_message import (
    Action, AgreementRef, CollaborationInfo, ConversationId, MessageProperties, PartInfo, PartProperties,
    PartyFrom, PartyId, PartyInfo, PartyTo, PayloadInfo, Property, Role, Service, UserMessage,
)
from as4.profiles.peppol.message import PeppolAS4Message
from as4.profiles.peppol.profile import PeppolAS4Profile
from as4.utils.cipher_handler import CipherHandler


class CefBuilderArgs(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)
    namespace_map: dict[str, str] = NAMESPACES  # read by PeppolAS4Message.get_signature
    from_role: str = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/initiator"
    to_role: str = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/responder"
    agreement_ref: str | None = None
    agreement_ref_type: str | None = None
    pmode: str | None = None
    service: str
    service_type: str | None = None
    action: str
    # (name, type, value); type None -> no @type attribute
    message_properties: list[tuple[str, str | None, str]] = Field(default_factory=list)
    mime_type: str = "application/xml"


class CefAS4Message(PeppolAS4Message):

    @classmethod
    def process(cls, fields: dict[str, Any], parse_context, soap_envelope_element, mime_attachments):
        # Skip PeppolAS4Message.process_sbdh: only the generic AS4 checks.
        return AS4Message.process.__func__(cls, fields, parse_context, soap_envelope_element, mime_attachments)

    @classmethod
    def get_user_message(cls, local_party: AS4InternalParty, remote_party: AS4ExternalParty,
                         builder_args: CefBuilderArgs, references: AS4References) -> UserMessage:
        a = builder_args
        party_from = PartyFrom(party_id=PartyId(value=local_party.identity.party_id,
                                                type_value=local_party.identity.party_type),
                               role=Role(value=a.from_role))
        party_to = PartyTo(party_id=PartyId(value=remote_party.identity.party_id,
                                            type_value=remote_party.identity.party_type),
                           role=Role(value=a.to_role))
        agreement = (AgreementRef(value=a.agreement_ref, type_value=a.agreement_ref_type, pmode=a.pmode)
                     if a.agreement_ref else None)
        props = [Property(name=n, property_type=t, value=v) for n, t, v in a.message_properties]
        return UserMessage(
            message_info=MessageInfo(timestamp=Timestamp(value=datetime.now(UTC)),
                                     message_id=MessageId(value=references.message_id)),
            party_info=PartyInfo(party_from=party_from, party_to=party_to),
            collaboration_info=CollaborationInfo(
                agreement_ref=agreement,
                service=Service(value=a.service, type_value=a.service_type),
                action=Action(value=a.action),
                conversation_id=ConversationId(value=references.conversation_id)),
            message_properties=MessageProperties(properties=props) if props else None,
            payload_info=PayloadInfo(part_info=[
                PartInfo(href=f"cid:{cid}", part_properties=PartProperties(properties=[
                    Property(name="MimeType", value=a.mime_type),
                    Property(name="CompressionType", value="application/gzip")]))
                for cid in references.attachment_id_encrypted_data_id_map]),
        )

    @classmethod
    def build_message(cls, payload: bytes, *, local_party: AS4InternalParty, remote_party: AS4ExternalParty,
                      builder_args: CefBuilderArgs, references: AS4References) -> Self:
        # Same as PeppolAS4Message.build_message, minus the SBDH wrapping of the payload.
        compressed = gzip.compress(payload)
        session_key, encrypted_payload = CipherHandler.encrypt_payload(compressed)  # AES-128-GCM, IV||ct||tag
        encrypted_session_key = remote_party.credentials.rsa_public_key.encrypt(
            session_key, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=b""))
        attachment_id, _ = references.encrypted_data_attachment_mapping()
        envelope = cls.get_soap_envelope(local_party, remote_party, builder_args, references,
                                         encrypted_session_key, compressed_payloads={attachment_id: compressed})
        return cls(soap_envelope=envelope, message_id=references.message_id, messaging_id=references.messaging_id,
                   mime_attachments={attachment_id: encrypted_payload}, decrypted_data={attachment_id: payload})


class CefAS4Profile(PeppolAS4Profile):

    @classmethod
    def get_profile_name(cls) -> str:
        return "cef-demo"

    @classmethod
    def message_class(cls):
        return CefAS4Message

    @classmethod
    def build_message(cls, payload, *, local_party, remote_party, builder_args, references=None):
        return CefAS4Message.build_message(payload, local_party=local_party, remote_party=remote_party,
                                           builder_args=builder_args, references=references or AS4References())


import argparse
import json
import sys

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from as4 import (
    AS4BaseCredentials, AS4ExternalParty, AS4InternalCredentials, AS4LocalPrivateKey, AS4PartyIdentity,
    AS4ReceivingExchange, AS4SendingExchange, ExchangeState, SecurityPolicy, certificate_chain,
)

PARTY_TYPE = "urn:fdc:digg.se:edelivery:transportprofile:as4:partytype:ap"
SERVICE_TYPE = "urn:fdc:digg.se:edelivery:process"
PARTICIPANT_SCHEME = "iso6523-actorid-upis"


def load_cert(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def load_key(path):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), None)


def internal(party_id, key, cert):
    return AS4InternalParty(identity=AS4PartyIdentity(party_id=party_id, party_type=PARTY_TYPE),
                            credentials=AS4InternalCredentials(certificate=load_cert(cert),
                                                               private_key=AS4LocalPrivateKey(load_key(key))))


def external(party_id, cert):
    return AS4ExternalParty(identity=AS4PartyIdentity(party_id=party_id, party_type=PARTY_TYPE),
                            credentials=AS4BaseCredentials(certificate=load_cert(cert)))


def send(a):
    args = CefBuilderArgs(service="bdx:noprocess", service_type=SERVICE_TYPE, action=a.action,
                          message_properties=[("originalSender", PARTICIPANT_SCHEME, a.original_sender),
                                              ("finalRecipient", PARTICIPANT_SCHEME, a.final_recipient)],
                          mime_type="text/xml")
    exchange = AS4SendingExchange(profile=CefAS4Profile, local_party=internal(a.from_id, a.key, a.cert),
                                  remote_party=external(a.to_id, a.to_cert))
    exchange.identifiers.conversation_id = "interop-conversation"
    with open(a.payload, "rb") as f:
        headers, body = exchange.build(f.read(), args)
    with open(a.out_body, "wb") as f:
        f.write(body)
    with open(a.out_type, "w") as f:
        f.write(headers["Content-Type"])
    with open(a.state, "w") as f:
        f.write(exchange.mark_sent().model_dump_json())
    print(json.dumps({"sent": True, "message_id": exchange.message_id}))
    return 0


def receive(a):
    with open(a.body, "rb") as f:
        body = f.read()
    with open(a.type) as f:
        content_type = f.read()
    policy = SecurityPolicy(signer_resolver=certificate_chain(load_cert(a.anchor),
                                                              intermediates=[load_cert(a.intermediate)]))
    exchange = AS4ReceivingExchange(profile=CefAS4Profile, local_party=internal(a.to_id, a.key, a.cert)).receive(
        request_headers={"Content-Type": content_type}, request_body=body, security_policy=policy)
    _, signal = exchange.build_signal()
    with open(a.out_receipt, "wb") as f:
        f.write(signal)
    if not exchange.successful:
        print(json.dumps({"received": False, "error": repr(exchange.message.parse_error)}))
        return 1
    um = exchange.message.soap_envelope.header.messaging.user_message
    (cid, plain), = exchange.message.decrypted_data.items()
    with open(a.out_payload, "wb") as f:
        f.write(plain)
    print(json.dumps({"received": True, "content_id": cid, "from": um.party_info.party_from.party_id.value,
                      "action": um.collaboration_info.action.value,
                      "properties": {p.name: p.value for p in um.message_properties.properties}}))
    return 0


def check_receipt(a):
    with open(a.state) as f:
        exchange = AS4SendingExchange.restore(f.read(), internal(a.from_id, a.key, a.cert))
    with open(a.receipt, "rb") as f:
        exchange.receive_signal(f.read())
    ok = exchange.state is ExchangeState.ACKNOWLEDGED
    print(json.dumps({"acknowledged": ok, "state": str(exchange.state)}))
    return 0 if ok else 1


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command", required=True)
    for name in ("send", "receive", "check-receipt"):
        s = sub.add_parser(name)
        for opt in ("--key", "--cert", "--from", "--to"):
            s.add_argument(opt, required=True, dest=opt[2:].replace("-", "_") + ("_id" if opt in ("--from", "--to") else ""))
    s = sub.choices["send"]
    for opt in ("--to-cert", "--action", "--original-sender", "--final-recipient", "--payload", "--out-body",
                "--out-type", "--state"):
        s.add_argument(opt, required=True)
    s = sub.choices["receive"]
    for opt in ("--anchor", "--intermediate", "--body", "--type", "--out-payload", "--out-receipt"):
        s.add_argument(opt, required=True)
    s = sub.choices["check-receipt"]
    for opt in ("--to-cert", "--state", "--receipt"):
        s.add_argument(opt, required=True)
    a = p.parse_args()
    return {"send": send, "receive": receive, "check-receipt": check_receipt}[a.command](a)


if __name__ == "__main__":
    sys.exit(main())
