package eimzo

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/signet-agent/signet/sdk"
)

// The pfx plugin: PKCS#12 key files.
//
// # Disks, paths and names
//
// E-IMZO names a key file by disk, path and name: a disk root ("C:\",
// "/media/"), a path that is "" or "DSKEYS", and the file name without
// ".pfx". Signet does not scan disks itself: the host's key store decides
// which folders hold key files (keystore.pfx_dirs and pfx_files, and
// `eimzo: true` for E-IMZO's own disk roots and their DSKEYS folders). Each
// PFX key the key store lists (a file: URI, file:///abs/NAME.pfx#alias) is
// placed by pfxLocation:
//
//   - a file in a folder named DSKEYS (any case): disk = that folder's
//     parent with a trailing separator, path = "DSKEYS";
//   - any other file: disk = its folder with a trailing separator,
//     path = "".
//
// name is the file name without its extension (.pfx or .p12). The disks
// are those that hold at least one key file. A page only ever passes back
// what it was given, and load_key finds the key by listing again and
// comparing, so the rule never has to be inverted.
//
// # Passwords
//
// load_key asks for no password, as in E-IMZO: it checks the disk, the file
// and the alias and returns a keyId. The host asks for the password in its
// own dialog when the key is first used (create_pkcs7, verify_password, …)
// and keeps the file unlocked according to its login policy.

func init() {
	const (
		diskDesc  = "Диск"
		pathDesc  = "Путь (должна быть пустой или 'DSKEYS')"
		nameDesc  = "Имя файла без расширения"
		aliasDesc = "Алиас ключа"
		idDesc    = "Идентификатор ключа"
	)
	pathArgs := []arg{{Name: "disk", Description: diskDesc}, {Name: "path", Optional: true, Description: pathDesc},
		{Name: "name", Description: nameDesc}, {Name: "alias", Description: aliasDesc}}
	register(
		&function{Plugin: "pfx", Name: "list_disks", Gate: gateKeyStore, Run: (*Server).pfxListDisks,
			Description: "Получить список дисков (Signet: папок хранилища ключей, в которых есть файлы ключей PFX)"},
		&function{Plugin: "pfx", Name: "list_certificates", Gate: gateKeyStore, Run: (*Server).pfxListCertificates,
			Description: "Получить список сертификатов пользователя",
			Args:        []arg{{Name: "disk", Description: diskDesc}}},
		&function{Plugin: "pfx", Name: "list_all_certificates", Gate: gateKeyStore, Run: (*Server).pfxListAllCertificates,
			Description: "Получить список всех сертификатов пользователя (Signet: ключи PFX из хранилища ключей Signet; ключи на токенах доступны через идентификатор \"ckc\")"},
		&function{Plugin: "pfx", Name: "load_key", Gate: gateKeyStore, Run: (*Server).pfxLoadKey,
			Description: "Загрузить ключ и получить идентификатор ключа. Ключ будет доступен определенное время (Signet: с разрешения пользователя; пароль запрашивается при использовании ключа)",
			Args:        pathArgs},
		&function{Plugin: "pfx", Name: "unload_key", Gate: gateAsk, Run: (*Server).pfxUnloadKey,
			Description: "Удалить загруженные ключи по идентификатору",
			Args:        []arg{{Name: "pfxId", Description: idDesc}}},
		&function{Plugin: "pfx", Name: "verify_password", Gate: gateKeyStore, Run: (*Server).pfxVerifyPassword,
			Description: "Проверить пароль хранилища ключей (Signet: пароль запрашивает Signet в своем окне, если ключ заблокирован; подтверждение пользователя обязательно)",
			Args:        []arg{{Name: "pfxId", Description: idDesc}}},
		&function{Plugin: "pfx", Name: "change_password", Gate: gateAsk, Run: (*Server).pfxDisabled,
			Description: "Изменить пароль хранилища ключей (в Signet отключено)",
			Args:        []arg{{Name: "pfxId", Description: idDesc}}},
		&function{Plugin: "pfx", Name: "save_pfx", Gate: gateAsk, Run: (*Server).pfxDisabled,
			Description: "Сохранить ключевую пару или существующий ключ и новые сертификаты в новый файл формата PFX (в Signet отключено)",
			Args: append(append([]arg{}, pathArgs...),
				arg{Name: "id", Description: "Идентификатор новой ключевой пары или существующего хранилища ключей (для обновления сертификатов)"},
				arg{Name: "new_key_password", Description: "Пароль для нового ключа"},
				arg{Name: "subject_certificate_64", Description: "Сертификат субъекта в кодировке BASE64"},
				arg{Name: "ca_certificate_64", Description: "Сертификат Центра Регистрации в кодировке BASE64"},
				arg{Name: "root_certificate_64", Description: "Корневой сертификат в кодировке BASE64"})},
		&function{Plugin: "pfx", Name: "save_temporary_pfx", Gate: gateAsk, Run: (*Server).pfxDisabled,
			Description: "Сохранить ключевую пару и самоподписанный сертификат во временный файл формата PFX (в Signet отключено)",
			Args: append(append([]arg{}, pathArgs...),
				arg{Name: "id", Description: "Идентификатор новой ключевой пары"},
				arg{Name: "password", Description: "Пароль для временного ключа"},
				arg{Name: "subject_x500_name", Description: "Имя субъекта в формате X.500"})},
	)
}

// PathDSKEYS is the only non-empty path E-IMZO accepts.
const PathDSKEYS = "DSKEYS"

// pfxCert is one entry of list_certificates / list_all_certificates.
type pfxCert struct {
	Disk  string `json:"disk"`
	Path  string `json:"path"`
	Name  string `json:"name"`
	Alias string `json:"alias"`
}

// pfxEntry is a listed PFX key and where E-IMZO sees it.
type pfxEntry struct {
	pfxCert
	Key sdk.Key
	// Raw is the key store's own alias (the URI fragment). load_key
	// accepts it too: a locked file listed with it shows the certificate's
	// alias once it has been unlocked.
	Raw string
}

// pfxLocation places the key file at the absolute path file on E-IMZO's
// disks (see the file comment).
func pfxLocation(file string) (disk, path, name string) {
	dir := filepath.Dir(file)
	base := filepath.Base(file)
	name = strings.TrimSuffix(base, filepath.Ext(base))
	if strings.EqualFold(filepath.Base(dir), PathDSKEYS) && filepath.Dir(dir) != dir {
		return withSeparator(filepath.Dir(dir)), PathDSKEYS, name
	}
	return withSeparator(dir), "", name
}

// withSeparator returns dir with one trailing path separator.
func withSeparator(dir string) string {
	if strings.HasSuffix(dir, string(filepath.Separator)) {
		return dir
	}
	return dir + string(filepath.Separator)
}

// listedAlias is the alias E-IMZO's listing shows for k, whose key-store
// alias (the URI fragment) is raw: see alias.go.
func listedAlias(k sdk.Key, raw string) string {
	if isEIMZOAlias(k.Label) {
		return k.Label
	}
	if k.Certificate != nil {
		return certAlias(k.Certificate)
	}
	return raw
}

// pfxEntries lists the PFX keys of the host's key store with their E-IMZO
// location, sorted by disk, path, name and alias. A backend that failed to
// list is logged; the others' keys are still returned. A listing refused
// by the host's origin policy is -1022, the domain not authorised.
func (s *Server) pfxEntries(c *call, summary string) ([]pfxEntry, error) {
	keys, err := s.keys.Keys(c.ctx, c.op(summary))
	if err != nil {
		if len(keys) == 0 {
			return nil, s.gateError(c.sess, err)
		}
		s.log.Warn("key store listed with problems", "err", err)
	}
	var out []pfxEntry
	for _, k := range keys {
		if !strings.HasPrefix(strings.ToLower(k.URI), "file:") || !k.HasPrivateKey {
			continue
		}
		file, raw, err := sdk.ParseFileKeyURI(k.URI)
		if err != nil {
			continue
		}
		e := pfxEntry{Key: k, Raw: raw}
		e.Disk, e.Path, e.Name = pfxLocation(file)
		e.Alias = listedAlias(k, raw)
		out = append(out, e)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].pfxCert, out[j].pfxCert
		if a.Disk != b.Disk {
			return a.Disk < b.Disk
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Alias < b.Alias
	})
	return out, nil
}

func (s *Server) pfxListDisks(c *call) (Reply, error) {
	ents, err := s.pfxEntries(c, c.sess.domain+" lists the disks holding E-IMZO key files")
	if err != nil {
		return nil, err
	}
	disks := []string{}
	for _, e := range ents {
		if len(disks) == 0 || disks[len(disks)-1] != e.Disk {
			disks = append(disks, e.Disk)
		}
	}
	return Reply{"disks": disks}, nil
}

func (s *Server) pfxListCertificates(c *call) (Reply, error) {
	disk := c.args[0]
	ents, err := s.pfxEntries(c, c.sess.domain+" lists the E-IMZO key files of disk "+disk)
	if err != nil {
		return nil, err
	}
	certs, found := []pfxCert{}, false
	for _, e := range ents {
		if sameDisk(e.Disk, disk) {
			found = true
			certs = append(certs, e.pfxCert)
		}
	}
	if !found {
		return nil, fail(StatusDiskNotFound, disk)
	}
	return Reply{"certificates": certs}, nil
}

func (s *Server) pfxListAllCertificates(c *call) (Reply, error) {
	ents, err := s.pfxEntries(c, c.sess.domain+" lists the E-IMZO key files")
	if err != nil {
		return nil, err
	}
	certs := make([]pfxCert, 0, len(ents))
	for _, e := range ents {
		certs = append(certs, e.pfxCert)
	}
	return Reply{"certificates": certs}, nil
}

// sameDisk compares a listed disk with a page's argument, which may lack
// the trailing separator.
func sameDisk(listed, arg string) bool {
	return arg != "" && listed == withSeparator(arg)
}

// pfxLoadKey finds the key (-1002 bad path, -2011 unknown disk, -2002 no
// such file, -2006 no such alias in it), asks the host whether the domain
// may load it (origin policy, and the person when the policy says so), and
// registers a keyId for the domain.
func (s *Server) pfxLoadKey(c *call) (Reply, error) {
	disk, path, name, alias := c.args[0], c.args[1], c.args[2], c.args[3]
	if path != "" && path != PathDSKEYS {
		return nil, fail(StatusBadPath)
	}
	ents, err := s.pfxEntries(c, c.sess.domain+" looks up E-IMZO key file "+name)
	if err != nil {
		return nil, err
	}
	var diskKnown, fileKnown bool
	var found *pfxEntry
	for i, e := range ents {
		if !sameDisk(e.Disk, disk) {
			continue
		}
		diskKnown = true
		if e.Path != path || e.Name != name {
			continue
		}
		fileKnown = true
		if e.Alias == alias || e.Raw == alias {
			found = &ents[i]
			break
		}
	}
	file := name + ".pfx"
	switch {
	case !diskKnown:
		return nil, fail(StatusDiskNotFound, disk)
	case !fileKnown:
		return nil, fail(StatusPFXMissing, filepath.Join(disk, path, file))
	case found == nil:
		return nil, fail(StatusAliasNotFound, alias, file)
	}
	summary := fmt.Sprintf("%s loads key %s", c.sess.domain, keyCN(found.Key, found.Alias, name))
	if err := s.consent.Ask(c.ctx, found.Key.URI, c.op(summary)); err != nil {
		return nil, err
	}
	id := s.handles.add(handle{Type: TypePFX, Domain: c.sess.domain, Key: found.Key,
		Disk: found.Disk, Path: found.Path, Name: found.Name, Alias: found.Alias}, s.keyTTL)
	return Reply{"keyId": id, "type": TypePFX}, nil
}

// keyCN names a key for the person: its certificate's CN, else the cn of
// its alias, else fallback (the file name: a raw alias is a hex key id).
func keyCN(k sdk.Key, alias, fallback string) string {
	if k.Certificate != nil && k.Certificate.Subject.CommonName != "" {
		return k.Certificate.Subject.CommonName
	}
	if cn := aliasCN(alias); cn != "" {
		return cn
	}
	return fallback
}

func (s *Server) pfxUnloadKey(c *call) (Reply, error) {
	if !s.handles.remove(c.sess.domain, c.args[0]) {
		return nil, fail(StatusKeyIDNotFound)
	}
	return Reply{}, nil
}

// ChallengeSize is the size of verify_password's random challenge.
const ChallengeSize = 32

// pfxVerifyPassword proves that the person can use the key (proveKey).
// The host asks for the password when the file is locked (and keeps it
// unlocked by its login policy, so a later create_pkcs7 does not ask
// again); its consent dialog, naming the domain and the key, is the
// person's confirmation. E-IMZO always prompts here; Signet asks for the
// password only when the key is locked.
func (s *Server) pfxVerifyPassword(c *call) (Reply, error) {
	h, ok := s.handles.get(c.sess.domain, c.args[0])
	if !ok || h.Type != TypePFX {
		return nil, fail(StatusKeyIDNotFound)
	}
	summary := fmt.Sprintf("%s asks to confirm the password of key %s", c.sess.domain, keyCN(h.Key, h.Alias, h.Name))
	k, err := s.proveKey(c, h.Key, summary)
	if err != nil {
		return nil, err
	}
	if h.Key.Certificate == nil && k.Certificate != nil {
		s.handles.setKey(c.sess.domain, h.ID, k)
	}
	return Reply{}, nil
}

// pfxUnlock completes a PFX handle whose certificate the key store could
// not read without the password (a file with encrypted certificates, as
// Java and OpenSSL write them): it proves the key (proveKey), which makes
// the host ask for the password and unlock the file, and keeps the
// certificate and chain the key store then knows in the handle, so the
// caller can sign CMS or return the chain. keyFor calls it; the person
// sees this question once per keyId, before the operation's own.
func (s *Server) pfxUnlock(c *call, h *handle) (*handle, error) {
	summary := fmt.Sprintf("%s asks to open key file %s to use key %s", c.sess.domain, h.Name+".pfx", keyCN(h.Key, h.Alias, h.Name))
	k, err := s.proveKey(c, h.Key, summary)
	if err != nil {
		return nil, err
	}
	if k.Certificate != nil {
		s.handles.setKey(c.sess.domain, h.ID, k)
		h.Key = k
	}
	return h, nil
}

// proveKey signs a random challenge with key through the host and checks
// the signature against the key's public key (-2020 when it does not
// match). It returns the key as the key store knows it afterwards: a
// locked file's key gains its certificate once the host has unlocked it.
func (s *Server) proveKey(c *call, key sdk.Key, summary string) (sdk.Key, error) {
	challenge := make([]byte, ChallengeSize)
	if _, err := rand.Read(challenge); err != nil {
		return key, fmt.Errorf("challenge: %w", err)
	}
	locked := key.Certificate == nil || key.PublicKey == nil
	sig, err := s.signChallenge(c, key, challenge, summary)
	if err != nil && key.Algorithm == "" && !isHostRefusal(err) {
		// A locked file's key is listed without its algorithm; the first
		// attempt signed a SHA-256 digest, which an Ed25519 key refuses.
		// The file is unlocked now: retry with what the key store knows.
		if k, kerr := s.keys.Key(c.ctx, key.URI, c.op(summary)); kerr == nil && k.Algorithm == sdk.KeyAlgorithm("Ed25519") {
			key, locked = k, false
			sig, err = s.signChallenge(c, key, challenge, summary)
		}
	}
	if err != nil {
		return key, err
	}
	if locked {
		// Listed locked: the key store knows the certificate now.
		k, err := s.keys.Key(c.ctx, key.URI, c.op(summary))
		if err != nil {
			return key, err
		}
		key = k
	}
	pub := key.PublicKey
	if pub == nil && key.Certificate != nil {
		pub = key.Certificate.PublicKey
	}
	if err := verifyChallenge(pub, challenge, sig); err != nil {
		s.log.Warn("key proof: signature does not match the key's public key", "key", key.URI, "err", err)
		return key, fail(StatusKeyMismatch)
	}
	return key, nil
}

// isHostRefusal reports whether err is a decision (cancel, denial, wrong
// password…) rather than a failure of the signature itself.
func isHostRefusal(err error) bool {
	for _, e := range []error{sdk.ErrCancelled, sdk.ErrDenied, sdk.ErrTimeout, sdk.ErrPINIncorrect,
		sdk.ErrPINLocked, sdk.ErrFinalTry, sdk.ErrKeyNotFound, sdk.ErrTokenRemoved, sdk.ErrUnavailable} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// signChallenge signs challenge with key through the host: Ed25519 signs
// the challenge itself, other keys its SHA-256 digest.
func (s *Server) signChallenge(c *call, key sdk.Key, challenge []byte, summary string) ([]byte, error) {
	signer := s.keys.Signer(c.ctx, key, c.op(summary))
	if key.Algorithm == sdk.KeyAlgorithm("Ed25519") {
		return signer.Sign(rand.Reader, challenge, crypto.Hash(0))
	}
	d := sha256.Sum256(challenge)
	return signer.Sign(rand.Reader, d[:], crypto.SHA256)
}

// verifyChallenge checks a signature made by signChallenge.
func verifyChallenge(pub crypto.PublicKey, challenge, sig []byte) error {
	d := sha256.Sum256(challenge)
	switch p := pub.(type) {
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(p, crypto.SHA256, d[:], sig)
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(p, d[:], sig) {
			return errors.New("ECDSA signature does not verify")
		}
		return nil
	case ed25519.PublicKey:
		if !ed25519.Verify(p, challenge, sig) {
			return errors.New("Ed25519 signature does not verify")
		}
		return nil
	case nil:
		return errors.New("the key store does not know the public key")
	}
	return fmt.Errorf("unsupported public key %T", pub)
}

// pfxDisabled answers change_password, save_pfx and save_temporary_pfx:
// Signet cannot write E-IMZO key files yet (go-pkcs12 cannot write the
// friendlyName alias, SSLMate/go-pkcs12#34, and a file without it would
// lose its E-IMZO name), so these reply as an E-IMZO version that has the
// function switched off.
func (s *Server) pfxDisabled(*call) (Reply, error) {
	return nil, errDisabled()
}
