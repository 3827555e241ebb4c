// The Domibus dialect of WS-Security, spoken by independent Java implementations, for tests/domibus_dialect.rs.
//
// Most SDK access points run Domibus: Apache CXF over WSS4J over Apache Santuario. This helper signs AS4
// receipts and messages the way that stack does and verifies what sdk-relay signs, with the libraries Debian
// packages (libxml-security-java: Santuario 2.1.7; libwss4j-java: WSS4J 1.6.19). Which library produced what:
//
//   verify        Santuario's own API (org.apache.xml.security.signature.XMLSignature): every reference is
//                 dereferenced and digested by Santuario, cid: references through the resolver below with the
//                 attachment bytes given as --attachment cid=FILE, and the SignatureValue checked over
//                 SignedInfo as Santuario canonicalizes it. A cid: reference without its bytes is a failure,
//                 never a skip.
//   sign-receipt  WSS4J 1.6 (org.apache.ws.security.message.WSSecSignature, as CXF drives it under Domibus):
//                 WSS4J decides the layout: its BinarySecurityToken / KeyIdentifier / X509IssuerSerial, and the
//                 InclusiveNamespaces PrefixLists in SignedInfo's CanonicalizationMethod and in each reference's
//                 exc-C14N transform, which it writes whenever it is WS-I BSP compliant (the default).
//                 --engine santuario signs the same layout with Santuario directly (our PrefixList rule below);
//                 --name-cert makes its KeyInfo name another certificate than the one whose key signs (a lie
//                 a verifier must catch).
//   sign-message  Santuario directly: WSS4J 1.6 has no Attachment-Content-Signature-Transform (WSS4J 2 added
//                 it), so the SwA references are built here: the transform below, over the attachment bytes.
//
// Usage (exit 0 done/valid, 1 refused or failed, the reason on stderr):
//   verify FILE [--cert PEM] [--attachment CID=FILE]...
//   sign-receipt IN OUT --key KEY.pem --cert CERT.pem --keyref bst|ski|thumbprint|issuerserial
//                [--engine wss4j|santuario [--name-cert PEM]] [--no-prefixlist]
//   sign-message IN OUT --key KEY.pem --cert CERT.pem --keyref bst|ski|thumbprint|issuerserial
//                --attachment CID=FILE... [--no-prefixlist]
//   batch FILE    one command per line, arguments separated by TAB; one JVM for all. Prints one line per
//                 command: "#N<TAB>ok|fail<TAB>message" (newlines in the message as " | "), exits 0.
// Keys are PKCS#8 PEM (BEGIN PRIVATE KEY), certificates PEM.

import java.io.ByteArrayInputStream;
import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;

import javax.xml.parsers.DocumentBuilder;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.transform.OutputKeys;
import javax.xml.transform.Transformer;
import javax.xml.transform.TransformerFactory;
import javax.xml.transform.dom.DOMSource;
import javax.xml.transform.stream.StreamResult;

import org.apache.xml.security.signature.Reference;
import org.apache.xml.security.signature.SignedInfo;
import org.apache.xml.security.signature.XMLSignature;
import org.apache.xml.security.signature.XMLSignatureInput;
import org.apache.xml.security.transforms.Transform;
import org.apache.xml.security.transforms.TransformSpi;
import org.apache.xml.security.transforms.Transforms;
import org.apache.xml.security.transforms.params.InclusiveNamespaces;
import org.apache.xml.security.utils.resolver.ResourceResolverContext;
import org.apache.xml.security.utils.resolver.ResourceResolverException;
import org.apache.xml.security.utils.resolver.ResourceResolverSpi;
import org.w3c.dom.Attr;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NamedNodeMap;
import org.w3c.dom.Node;

public final class Dialect {
    static final String S12 = "http://www.w3.org/2003/05/soap-envelope";
    static final String WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
    static final String WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
    static final String WSSE11 = "http://docs.oasis-open.org/wss/oasis-wss-wssecurity-secext-1.1.xsd";
    static final String DS = "http://www.w3.org/2000/09/xmldsig#";
    static final String EB = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/";
    static final String XMLNS = "http://www.w3.org/2000/xmlns/";
    static final String EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#";
    static final String RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
    static final String SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256";
    static final String ATTACHMENT_CONTENT =
        "http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Content-Signature-Transform";
    static final String X509V3 =
        "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3";
    static final String SKI =
        "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509SubjectKeyIdentifier";
    static final String THUMBPRINT = "http://docs.oasis-open.org/wss/oasis-wss-soap-message-security-1.1#ThumbprintSHA1";
    static final String BASE64_BINARY =
        "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary";

    /** A refusal or failure to report (exit 1), as opposed to a bug in this helper. */
    static final class Failed extends Exception {
        Failed(String message) {
            super(message);
        }
    }

    public static void main(String[] args) {
        try {
            init();
        } catch (Exception e) {
            System.err.println("cannot initialise Santuario: " + e);
            System.exit(1);
        }
        if (args.length == 2 && args[0].equals("batch")) {
            try {
                List<String> lines = Files.readAllLines(new File(args[1]).toPath(), StandardCharsets.UTF_8);
                int n = 0;
                for (String line : lines) {
                    if (line.isEmpty()) {
                        continue;
                    }
                    String[] command = line.split("\t", -1);
                    String status = "ok";
                    String message;
                    try {
                        message = run(command);
                    } catch (Exception e) {
                        status = "fail";
                        message = describe(e);
                    }
                    System.out.println("#" + n + "\t" + status + "\t" + message.trim().replace("\r", "").replace("\n", " | "));
                    n++;
                }
                System.out.flush();
                System.exit(0);
            } catch (IOException e) {
                System.err.println("batch: " + e);
                System.exit(1);
            }
        }
        try {
            System.out.print(run(args));
            System.out.flush();
            System.exit(0);
        } catch (Exception e) {
            System.err.println(describe(e));
            System.exit(1);
        }
    }

    static String describe(Exception e) {
        if (e instanceof Failed) {
            return e.getMessage();
        }
        StringWriter w = new StringWriter();
        e.printStackTrace(new PrintWriter(w));
        return w.toString();
    }

    static void init() throws Exception {
        org.apache.xml.security.Init.init();
        Transform.register(ATTACHMENT_CONTENT, AttachmentContentTransform.class);
    }

    static String run(String[] args) throws Exception {
        if (args.length < 2) {
            throw new Failed("usage: verify FILE ... | sign-receipt IN OUT ... | sign-message IN OUT ... | batch FILE");
        }
        Options o = new Options(args);
        switch (args[0]) {
            case "verify":
                return verify(o);
            case "sign-receipt":
                return signReceipt(o);
            case "sign-message":
                return signMessage(o);
            default:
                throw new Failed("unknown command " + args[0]);
        }
    }

    static final class Options {
        final List<String> positional = new ArrayList<>();
        final Map<String, String> single = new HashMap<>();
        final Map<String, byte[]> attachments = new LinkedHashMap<>();
        boolean prefixList = true;

        Options(String[] args) throws Exception {
            for (int i = 1; i < args.length; i++) {
                String a = args[i];
                switch (a) {
                    case "--no-prefixlist":
                        prefixList = false;
                        break;
                    case "--attachment": {
                        String v = value(args, ++i, a);
                        int eq = v.indexOf('=');
                        if (eq <= 0) {
                            throw new Failed("--attachment takes CID=FILE, got " + v);
                        }
                        attachments.put(v.substring(0, eq), Files.readAllBytes(new File(v.substring(eq + 1)).toPath()));
                        break;
                    }
                    case "--key":
                    case "--cert":
                    case "--keyref":
                    case "--engine":
                    case "--name-cert":
                        single.put(a.substring(2), value(args, ++i, a));
                        break;
                    default:
                        if (a.startsWith("--")) {
                            throw new Failed("unknown option " + a);
                        }
                        positional.add(a);
                }
            }
        }

        static String value(String[] args, int i, String name) throws Failed {
            if (i >= args.length) {
                throw new Failed(name + " needs a value");
            }
            return args[i];
        }

        String positional(int i, String what) throws Failed {
            if (i >= positional.size()) {
                throw new Failed("missing " + what);
            }
            return positional.get(i);
        }

        String required(String name) throws Failed {
            String v = single.get(name);
            if (v == null) {
                throw new Failed("--" + name + " is required");
            }
            return v;
        }
    }

    // ---------------------------------------------------------------- documents

    static Document parse(File file) throws Exception {
        DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
        f.setNamespaceAware(true);
        f.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
        f.setExpandEntityReferences(false);
        DocumentBuilder b = f.newDocumentBuilder();
        return b.parse(file);
    }

    static void write(Document doc, File file) throws Exception {
        Transformer t = TransformerFactory.newInstance().newTransformer();
        t.setOutputProperty(OutputKeys.ENCODING, "UTF-8");
        t.setOutputProperty(OutputKeys.INDENT, "no");
        try (OutputStream out = new FileOutputStream(file)) {
            t.transform(new DOMSource(doc), new StreamResult(out));
        }
    }

    static Element child(Element parent, String ns, String local) throws Failed {
        Element found = null;
        for (Node n = parent.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n instanceof Element && ns.equals(n.getNamespaceURI()) && local.equals(n.getLocalName())) {
                if (found != null) {
                    throw new Failed(parent.getLocalName() + " has two " + local);
                }
                found = (Element) n;
            }
        }
        if (found == null) {
            throw new Failed(parent.getLocalName() + " has no " + local);
        }
        return found;
    }

    static List<Element> children(Element parent, String ns, String local) {
        List<Element> out = new ArrayList<>();
        for (Node n = parent.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n instanceof Element && ns.equals(n.getNamespaceURI()) && local.equals(n.getLocalName())) {
                out.add((Element) n);
            }
        }
        return out;
    }

    static Element security(Document doc) throws Failed {
        Element env = doc.getDocumentElement();
        if (!S12.equals(env.getNamespaceURI()) || !"Envelope".equals(env.getLocalName())) {
            throw new Failed("not a SOAP 1.2 envelope");
        }
        return child(child(env, S12, "Header"), WSSE, "Security");
    }

    /**
     * Registers every wsu:Id and (unqualified) Id attribute as an XML ID, as WSS4J does before it lets Santuario
     * resolve "#id" references. An Id that occurs twice is refused (WSS4J refuses it too): which of two
     * elements a reference means would otherwise be up to the DOM.
     */
    static void registerIds(Document doc) throws Failed {
        Set<String> seen = new LinkedHashSet<>();
        List<Element> all = new ArrayList<>();
        collect(doc.getDocumentElement(), all);
        for (Element e : all) {
            for (String[] name : new String[][] {{WSU, "Id"}, {null, "Id"}}) {
                Attr a = e.getAttributeNodeNS(name[0], name[1]);
                if (a != null) {
                    if (!seen.add(a.getValue())) {
                        throw new Failed("the Id " + a.getValue() + " occurs twice");
                    }
                    e.setIdAttributeNode(a, true);
                }
            }
        }
    }

    static void collect(Element e, List<Element> out) {
        out.add(e);
        for (Node n = e.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n instanceof Element) {
                collect((Element) n, out);
            }
        }
    }

    static Element byId(Document doc, String id) throws Failed {
        Element e = doc.getElementById(id);
        if (e == null) {
            throw new Failed("no element with Id " + id);
        }
        return e;
    }

    static String wsuId(Element e) {
        String id = e.getAttributeNS(WSU, "Id");
        return id.isEmpty() ? null : id;
    }

    // ---------------------------------------------------------------- keys

    static PrivateKey readKey(String path) throws Exception {
        String pem = new String(Files.readAllBytes(new File(path).toPath()), StandardCharsets.US_ASCII);
        int begin = pem.indexOf("-----BEGIN PRIVATE KEY-----");
        int end = pem.indexOf("-----END PRIVATE KEY-----");
        if (begin < 0 || end < 0) {
            throw new Failed(path + ": expected a PKCS#8 PEM private key (BEGIN PRIVATE KEY)");
        }
        String b64 = pem.substring(begin + 27, end).replaceAll("\\s", "");
        return KeyFactory.getInstance("RSA").generatePrivate(new PKCS8EncodedKeySpec(Base64.getDecoder().decode(b64)));
    }

    static X509Certificate readCert(String path) throws Exception {
        return cert(Files.readAllBytes(new File(path).toPath()));
    }

    static X509Certificate cert(byte[] derOrPem) throws Exception {
        return (X509Certificate) CertificateFactory.getInstance("X.509")
            .generateCertificate(new ByteArrayInputStream(derOrPem));
    }

    // ---------------------------------------------------------------- verify

    static String verify(Options o) throws Exception {
        Document doc = parse(new File(o.positional(0, "FILE")));
        registerIds(doc);
        Element security = security(doc);
        Element sigEl = child(security, DS, "Signature");
        // Secure validation on, as WSS4J 2 and Domibus run Santuario.
        XMLSignature sig = new XMLSignature(sigEl, "", true);
        sig.addResourceResolver(new CidResolver(o.attachments));
        SignedInfo si = sig.getSignedInfo();
        if (!RSA_SHA256.equals(si.getSignatureMethodURI())) {
            throw new Failed("SignatureMethod is " + si.getSignatureMethodURI());
        }
        if (!EXC_C14N.equals(si.getCanonicalizationMethodURI())) {
            throw new Failed("CanonicalizationMethod is " + si.getCanonicalizationMethodURI());
        }
        X509Certificate signer;
        String certPath = o.single.get("cert");
        if (certPath != null) {
            signer = readCert(certPath);
        } else {
            signer = tokenCertificate(security, sigEl);
        }
        StringBuilder report = new StringBuilder();
        boolean ok = true;
        // Each reference, dereferenced, transformed and digested by Santuario.
        for (int i = 0; i < si.getLength(); i++) {
            Reference r = si.item(i);
            boolean valid;
            String why = "";
            try {
                valid = r.verify();
            } catch (Exception e) {
                valid = false;
                why = " (" + e.getMessage() + ")";
            }
            report.append("reference ").append(r.getURI()).append(": ").append(valid ? "ok" : "DIGEST MISMATCH" + why).append('\n');
            ok &= valid;
        }
        // The SignatureValue over SignedInfo as Santuario canonicalizes it (its PrefixList honoured).
        Signature verifier = Signature.getInstance("SHA256withRSA");
        verifier.initVerify(signer.getPublicKey());
        verifier.update(si.getCanonicalizedOctetStream());
        boolean value = verifier.verify(sig.getSignatureValue());
        report.append("signature value: ").append(value ? "ok" : "BAD").append('\n');
        ok &= value;
        // And Santuario's own all-in-one check must agree.
        boolean santuario;
        try {
            santuario = sig.checkSignatureValue(signer.getPublicKey());
        } catch (Exception e) {
            santuario = false;
        }
        if (santuario != ok) {
            throw new Failed("Santuario's checkSignatureValue says " + santuario + " where the parts say " + ok + "\n" + report);
        }
        report.append("signer: ").append(signer.getSubjectX500Principal().getName()).append('\n');
        if (!ok) {
            throw new Failed("invalid signature\n" + report);
        }
        return "valid signature\n" + report;
    }

    /** The certificate in the BinarySecurityToken the signature's SecurityTokenReference points at. */
    static X509Certificate tokenCertificate(Element security, Element sigEl) throws Exception {
        Element str = child(child(sigEl, DS, "KeyInfo"), WSSE, "SecurityTokenReference");
        List<Element> refs = children(str, WSSE, "Reference");
        if (refs.size() != 1) {
            throw new Failed("the SecurityTokenReference does not point at a BinarySecurityToken; give --cert");
        }
        String uri = refs.get(0).getAttribute("URI");
        if (!uri.startsWith("#")) {
            throw new Failed("the SecurityTokenReference URI " + uri + " is not local");
        }
        for (Element bst : children(security, WSSE, "BinarySecurityToken")) {
            if (uri.substring(1).equals(wsuId(bst))) {
                return cert(Base64.getMimeDecoder().decode(bst.getTextContent()));
            }
        }
        throw new Failed("no BinarySecurityToken " + uri);
    }

    // ---------------------------------------------------------------- attachments

    /** Hands Santuario the bytes of a cid: reference from --attachment CID=FILE (nothing else is resolved). */
    public static final class CidResolver extends ResourceResolverSpi {
        final Map<String, byte[]> attachments;

        CidResolver(Map<String, byte[]> attachments) {
            this.attachments = attachments;
        }

        @Override
        public boolean engineCanResolveURI(ResourceResolverContext context) {
            return context.uriToResolve != null && context.uriToResolve.startsWith("cid:");
        }

        @Override
        public XMLSignatureInput engineResolveURI(ResourceResolverContext context) throws ResourceResolverException {
            String cid = context.uriToResolve.substring(4);
            byte[] bytes = attachments.get(cid);
            if (bytes == null) {
                throw new ResourceResolverException("generic.EmptyMessage",
                new Object[] {"no --attachment given for " + context.uriToResolve}, context.uriToResolve, context.baseUri);
            }
            XMLSignatureInput input = new XMLSignatureInput(bytes);
            input.setSourceURI(context.uriToResolve);
            input.setMIMEType("application/octet-stream");
            return input;
        }
    }

    /**
     * SwA profile 1.1 §5.3.2 Attachment-Content-Signature-Transform for a binary attachment: the output is the
     * attachment's content octets (AS4 attachments are application/gzip or application/octet-stream, which
     * need no MIME canonicalization; MIME headers are not included by this transform). WSS4J 2's
     * AttachmentContentSignatureTransform does the same for non-text, non-XML content. Only octets are taken:
     * a node-set input (a "#id" reference) is refused, so the transform cannot be pointed at XML.
     */
    public static final class AttachmentContentTransform extends TransformSpi {
        @Override
        protected String engineGetURI() {
            return ATTACHMENT_CONTENT;
        }

        @Override
        protected XMLSignatureInput enginePerformTransform(XMLSignatureInput input, OutputStream os, Transform transform)
            throws IOException, org.apache.xml.security.transforms.TransformationException {
            if (!input.isOctetStream() || input.getSourceURI() == null || !input.getSourceURI().startsWith("cid:")) {
                throw new org.apache.xml.security.transforms.TransformationException("generic.EmptyMessage",
                    new Object[] {"the Attachment-Content-Signature-Transform applies to cid: attachments only"});
            }
            byte[] bytes;
            try {
                bytes = input.getBytes();
            } catch (org.apache.xml.security.c14n.CanonicalizationException e) {
                throw new IOException(e);
            }
            // Santuario writes the returned octets to the digest (XMLSignatureInput.updateOutputStream).
            return new XMLSignatureInput(bytes);
        }
    }

    // ---------------------------------------------------------------- signing

    /**
     * The PrefixList WSS4J 1.6 writes for a reference to `target` (as its output shows: every prefix declared on
     * an ancestor, less those the element declares itself, uses on an attribute, or has as its own prefix;
     * "#default" for a default namespace declaration).
     */
    static List<String> referencePrefixes(Element target) {
        Set<String> result = new LinkedHashSet<>(declaredAbove(target));
        NamedNodeMap attributes = target.getAttributes();
        for (int i = 0; i < attributes.getLength(); i++) {
            Node a = attributes.item(i);
            if (XMLNS.equals(a.getNamespaceURI())) {
                result.remove("xmlns".equals(a.getNodeName()) ? "#default" : a.getLocalName());
            } else if (a.getPrefix() != null) {
                result.remove(a.getPrefix());
            }
        }
        result.remove(target.getPrefix() == null ? "#default" : target.getPrefix());
        return new ArrayList<>(result);
    }

    /** Prefixes declared on the ancestors of `e` (the SignedInfo PrefixList is this for the Security header). */
    static List<String> declaredAbove(Element e) {
        Set<String> result = new LinkedHashSet<>();
        for (Node p = e.getParentNode(); p instanceof Element; p = p.getParentNode()) {
            NamedNodeMap attributes = p.getAttributes();
            for (int i = 0; i < attributes.getLength(); i++) {
                Node a = attributes.item(i);
                if (XMLNS.equals(a.getNamespaceURI())) {
                    result.add("xmlns".equals(a.getNodeName()) ? "#default" : a.getLocalName());
                }
            }
        }
        return new ArrayList<>(result);
    }

    /** The three XML parts a Domibus signature covers, by position: eb:Messaging, the Body and the Timestamp. */
    static List<Element> signedParts(Document doc, Element security) throws Failed {
        Element env = doc.getDocumentElement();
        List<Element> parts = new ArrayList<>();
        parts.add(child(child(env, S12, "Header"), EB, "Messaging"));
        parts.add(child(env, S12, "Body"));
        parts.add(child(security, WSU, "Timestamp"));
        for (Element p : parts) {
            if (wsuId(p) == null) {
                p.setAttributeNS(WSU, "wsu:Id", "id-" + UUID.randomUUID());
                p.setIdAttributeNS(WSU, "Id", true);
            }
        }
        return parts;
    }

    /** Removes the signature (and, when asked, the BinarySecurityTokens) from a Security header. */
    static void strip(Element security, boolean tokens) {
        for (Element s : children(security, DS, "Signature")) {
            security.removeChild(s);
        }
        if (tokens) {
            for (Element t : children(security, WSSE, "BinarySecurityToken")) {
                security.removeChild(t);
            }
        }
    }

    static String signReceipt(Options o) throws Exception {
        File in = new File(o.positional(0, "IN"));
        File out = new File(o.positional(1, "OUT"));
        PrivateKey key = readKey(o.required("key"));
        X509Certificate cert = readCert(o.required("cert"));
        String keyref = o.required("keyref");
        String engine = o.single.getOrDefault("engine", "wss4j");
        Document doc = parse(in);
        Element security = security(doc);
        // A Domibus receipt carries the receiving AP's token only when its KeyInfo points at one; the signer
        // adds its own.
        strip(security, true);
        registerIds(doc);
        String produced;
        if (engine.equals("wss4j")) {
            produced = wss4jSign(doc, security, key, cert, keyref, o.prefixList);
            if (o.single.containsKey("name-cert")) {
                throw new Failed("--name-cert goes with --engine santuario");
            }
        } else if (engine.equals("santuario")) {
            List<String[]> references = new ArrayList<>();
            for (Element p : signedParts(doc, security)) {
                references.add(new String[] {"#" + wsuId(p), null});
            }
            X509Certificate named = o.single.containsKey("name-cert") ? readCert(o.single.get("name-cert")) : cert;
            produced = santuarioSign(doc, security, key, named, keyref, references, new HashMap<>(), o.prefixList);
        } else {
            throw new Failed("--engine is wss4j or santuario");
        }
        write(doc, out);
        return produced;
    }

    static String wss4jSign(Document doc, Element security, PrivateKey key, X509Certificate cert, String keyref,
        boolean prefixList) throws Exception {
        org.apache.ws.security.WSSConfig.init();
        org.apache.ws.security.WSSConfig config = org.apache.ws.security.WSSConfig.getNewInstance();
        // WS-I BSP compliance is what makes WSS4J 1.6 write the InclusiveNamespaces PrefixLists.
        config.setWsiBSPCompliant(prefixList);
        KeyStore store = KeyStore.getInstance("PKCS12");
        store.load(null, null);
        char[] password = "dialect".toCharArray();
        store.setKeyEntry("ap", key, password, new Certificate[] {cert});
        org.apache.ws.security.components.crypto.Merlin crypto = new org.apache.ws.security.components.crypto.Merlin();
        crypto.setKeyStore(store);

        org.apache.ws.security.message.WSSecHeader header = new org.apache.ws.security.message.WSSecHeader();
        Element found = header.insertSecurityHeader(doc);
        if (found != security) {
            throw new Failed("WSS4J did not find the envelope's Security header");
        }
        org.apache.ws.security.message.WSSecSignature signature = new org.apache.ws.security.message.WSSecSignature(config);
        signature.setUserInfo("ap", "dialect");
        switch (keyref) {
            case "bst":
                signature.setKeyIdentifierType(org.apache.ws.security.WSConstants.BST_DIRECT_REFERENCE);
                break;
            case "ski":
                signature.setKeyIdentifierType(org.apache.ws.security.WSConstants.SKI_KEY_IDENTIFIER);
                break;
            case "thumbprint":
                signature.setKeyIdentifierType(org.apache.ws.security.WSConstants.THUMBPRINT_IDENTIFIER);
                break;
            case "issuerserial":
                signature.setKeyIdentifierType(org.apache.ws.security.WSConstants.ISSUER_SERIAL);
                break;
            default:
                throw new Failed("--keyref is bst, ski, thumbprint or issuerserial");
        }
        signature.setSignatureAlgorithm(RSA_SHA256);
        signature.setDigestAlgo(SHA256);
        signature.setSigCanonicalization(EXC_C14N);
        List<org.apache.ws.security.WSEncryptionPart> parts = new ArrayList<>();
        // As CXF asks for them under the eDelivery AS4 policy: eb:Messaging (SignedParts Header), the Body and
        // the Timestamp, each by its existing wsu:Id.
        for (Element p : signedParts(doc, security)) {
            org.apache.ws.security.WSEncryptionPart part = new org.apache.ws.security.WSEncryptionPart(wsuId(p));
            part.setElement(p);
            parts.add(part);
        }
        signature.setParts(parts);
        signature.build(doc, crypto, header);
        return "signed by WSS4J 1.6 (" + keyref + ")\n";
    }

    /** The SecurityTokenReference for `keyref`, as WSS4J writes each kind; adds a BinarySecurityToken for bst. */
    static Element tokenReference(Document doc, Element security, X509Certificate cert, String keyref) throws Exception {
        Element str = doc.createElementNS(WSSE, "wsse:SecurityTokenReference");
        str.setAttributeNS(WSU, "wsu:Id", "STR-" + UUID.randomUUID());
        switch (keyref) {
            case "bst": {
                String id = null;
                // The token already in the header when it holds this certificate (a message's own), else a new one.
                for (Element bst : children(security, WSSE, "BinarySecurityToken")) {
                    if (java.util.Arrays.equals(Base64.getMimeDecoder().decode(bst.getTextContent()), cert.getEncoded())) {
                        id = wsuId(bst);
                    }
                }
                if (id == null) {
                    Element bst = doc.createElementNS(WSSE, "wsse:BinarySecurityToken");
                    id = "X509-" + UUID.randomUUID();
                    bst.setAttributeNS(null, "EncodingType", BASE64_BINARY);
                    bst.setAttributeNS(null, "ValueType", X509V3);
                    bst.setAttributeNS(WSU, "wsu:Id", id);
                    bst.setIdAttributeNS(WSU, "Id", true);
                    bst.setTextContent(Base64.getEncoder().encodeToString(cert.getEncoded()));
                    security.insertBefore(bst, security.getFirstChild());
                }
                Element ref = doc.createElementNS(WSSE, "wsse:Reference");
                ref.setAttributeNS(null, "URI", "#" + id);
                ref.setAttributeNS(null, "ValueType", X509V3);
                str.appendChild(ref);
                break;
            }
            case "ski":
            case "thumbprint": {
                byte[] value;
                if (keyref.equals("ski")) {
                    byte[] ext = cert.getExtensionValue("2.5.29.14");
                    if (ext == null) {
                        throw new Failed("the certificate has no subject key identifier");
                    }
                    // OCTET STRING { OCTET STRING ski }, both with short lengths for any real identifier.
                    if (ext.length < 4 || ext[0] != 0x04 || ext[2] != 0x04 || ext[3] != ext.length - 4) {
                        throw new Failed("cannot read the subject key identifier extension");
                    }
                    value = java.util.Arrays.copyOfRange(ext, 4, ext.length);
                } else {
                    value = MessageDigest.getInstance("SHA-1").digest(cert.getEncoded());
                }
                Element ki = doc.createElementNS(WSSE, "wsse:KeyIdentifier");
                ki.setAttributeNS(null, "EncodingType", BASE64_BINARY);
                ki.setAttributeNS(null, "ValueType", keyref.equals("ski") ? SKI : THUMBPRINT);
                ki.setTextContent(Base64.getEncoder().encodeToString(value));
                str.appendChild(ki);
                break;
            }
            case "issuerserial": {
                Element data = doc.createElementNS(DS, "ds:X509Data");
                Element is = doc.createElementNS(DS, "ds:X509IssuerSerial");
                Element name = doc.createElementNS(DS, "ds:X509IssuerName");
                name.setTextContent(cert.getIssuerX500Principal().getName());
                Element serial = doc.createElementNS(DS, "ds:X509SerialNumber");
                serial.setTextContent(cert.getSerialNumber().toString());
                is.appendChild(name);
                is.appendChild(serial);
                data.appendChild(is);
                str.appendChild(data);
                break;
            }
            default:
                throw new Failed("--keyref is bst, ski, thumbprint or issuerserial");
        }
        return str;
    }

    /**
     * Signs with Santuario's own API in the Domibus layout: exc-C14N SignedInfo with the PrefixList of the
     * prefixes declared above the Security header, rsa-sha256, sha256, exc-C14N references with WSS4J's
     * PrefixList, Attachment-Content-Signature-Transform for cid: references. `references` are {uri, unused};
     * the KeyInfo names `named`, which is the certificate of `key` unless a test wants a lie.
     */
    static String santuarioSign(Document doc, Element security, PrivateKey key, X509Certificate named, String keyref,
        List<String[]> references, Map<String, byte[]> attachments, boolean prefixList) throws Exception {
        Element str = tokenReference(doc, security, named, keyref);
        Element c14n = doc.createElementNS(DS, "ds:CanonicalizationMethod");
        c14n.setAttributeNS(null, "Algorithm", EXC_C14N);
        String signedInfoPrefixes = String.join(" ", declaredAbove(security));
        if (prefixList) {
            c14n.appendChild(new InclusiveNamespaces(doc, signedInfoPrefixes).getElement());
        }
        Element method = doc.createElementNS(DS, "ds:SignatureMethod");
        method.setAttributeNS(null, "Algorithm", RSA_SHA256);
        XMLSignature sig = new XMLSignature(doc, "", method, c14n);
        sig.setId("SIG-" + UUID.randomUUID());
        // After the tokens, where WSS4J puts it.
        Node after = null;
        for (Element bst : children(security, WSSE, "BinarySecurityToken")) {
            after = bst;
        }
        security.insertBefore(sig.getElement(), after == null ? security.getFirstChild() : after.getNextSibling());
        StringBuilder report = new StringBuilder("signed by Santuario (" + keyref + ")\n");
        for (String[] r : references) {
            Transforms transforms = new Transforms(doc);
            if (r[0].startsWith("#")) {
                Element target = byId(doc, r[0].substring(1));
                if (prefixList) {
                    String list = String.join(" ", referencePrefixes(target));
                    transforms.addTransform(EXC_C14N, new InclusiveNamespaces(doc, list).getElement());
                    report.append("reference ").append(r[0]).append(" PrefixList \"").append(list).append("\"\n");
                } else {
                    transforms.addTransform(EXC_C14N);
                }
            } else {
                transforms.addTransform(ATTACHMENT_CONTENT);
            }
            sig.addDocument(r[0], transforms, SHA256);
        }
        sig.addResourceResolver(new CidResolver(attachments));
        sig.getKeyInfo().addUnknownElement(str);
        sig.sign(key);
        return report.toString();
    }

    static String signMessage(Options o) throws Exception {
        File in = new File(o.positional(0, "IN"));
        File out = new File(o.positional(1, "OUT"));
        PrivateKey key = readKey(o.required("key"));
        X509Certificate cert = readCert(o.required("cert"));
        String keyref = o.required("keyref");
        Document doc = parse(in);
        Element security = security(doc);
        registerIds(doc);
        // The digests sdk-relay signed for its attachments: what ours must come to over the same bytes.
        Map<String, String> previous = new LinkedHashMap<>();
        Element old = child(security, DS, "Signature");
        for (Element ref : children(child(old, DS, "SignedInfo"), DS, "Reference")) {
            String uri = ref.getAttribute("URI");
            if (uri.startsWith("cid:")) {
                previous.put(uri.substring(4), child(ref, DS, "DigestValue").getTextContent().trim());
            }
        }
        if (!previous.keySet().equals(o.attachments.keySet())) {
            throw new Failed("the message signs attachments " + previous.keySet() + ", --attachment gave "
                + o.attachments.keySet());
        }
        for (Map.Entry<String, byte[]> a : o.attachments.entrySet()) {
            String ours = Base64.getEncoder().encodeToString(MessageDigest.getInstance("SHA-256").digest(a.getValue()));
            if (!ours.equals(previous.get(a.getKey()))) {
                throw new Failed("attachment " + a.getKey() + ": the bytes given digest to " + ours
                    + ", the message signed " + previous.get(a.getKey()) + " (not the bytes it signed)");
            }
        }
        // Keep the tokens and the encryption elements; replace only the signature.
        strip(security, false);
        List<String[]> references = new ArrayList<>();
        for (Element p : signedParts(doc, security)) {
            references.add(new String[] {"#" + wsuId(p), null});
        }
        for (String cid : o.attachments.keySet()) {
            references.add(new String[] {"cid:" + cid, null});
        }
        String report = santuarioSign(doc, security, key, cert, keyref, references, o.attachments, o.prefixList);
        // Self-check: Santuario's cid digests are the ones sdk-relay signed.
        Element fresh = child(security, DS, "Signature");
        for (Element ref : children(child(fresh, DS, "SignedInfo"), DS, "Reference")) {
            String uri = ref.getAttribute("URI");
            if (uri.startsWith("cid:")) {
                String value = child(ref, DS, "DigestValue").getTextContent().trim();
                if (!value.equals(previous.get(uri.substring(4)))) {
                    throw new Failed("Santuario digested " + uri + " to " + value + ", sdk-relay signed "
                        + previous.get(uri.substring(4)));
                }
            }
        }
        write(doc, out);
        return report;
    }
}
