package descriptors

import (
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/cardocr/cardocr/shared/archive"
)

// Personal data at rest (docs/personal-data.md): the evidence bucket and
// the queues are encrypted with the stack's own KMS key, whose policy lets
// the account root administer it but use it only through the functions'
// roles; the bucket's lifecycle rules are the archive's retention rules.
func TestSAMEvidenceKeyEncryptionAndRetention(t *testing.T) {
	s := loadSAM(t)
	key := s.resources["EvidenceKey"]
	if str(get(key, "Type")) != "AWS::KMS::Key" || str(path(key, "Properties", "EnableKeyRotation")) != "true" {
		t.Fatal("EvidenceKey must be an AWS::KMS::Key with EnableKeyRotation: true")
	}
	crypto := []string{"kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKeyWithoutPlaintext"}
	users := 0
	for _, st := range statements(path(key, "Properties", "KeyPolicy", "Statement")) {
		if st.effect != "Allow" {
			continue
		}
		_, principal := tagged(path(st.node, "Principal", "AWS"))
		if !strings.HasSuffix(principal, ":root") {
			t.Errorf("key policy %s: principal %q, want the account root (with conditions)", st.sid, principal)
		}
		usesKey := slices.ContainsFunc(st.actions, func(a string) bool { return slices.Contains(crypto, a) || strings.Contains(a, "*") })
		cond := path(st.node, "Condition", "ArnLike", "aws:PrincipalArn")
		if usesKey {
			users++
			found := false
			walk(cond, func(n *yaml.Node) {
				if strings.Contains(n.Value, ":role/${AWS::StackName}-*FunctionRole*") {
					found = true
				}
			})
			if !found {
				t.Errorf("key policy %s: the key's use is not limited to the stack's function roles", st.sid)
			}
		}
	}
	if users != 1 {
		t.Errorf("%d key policy statements allow the key's use; want exactly the functions' one", users)
	}
	enc := items(path(s.resources["EvidenceBucket"], "Properties", "BucketEncryption", "ServerSideEncryptionConfiguration"))
	if len(enc) != 1 || str(path(enc[0], "ServerSideEncryptionByDefault", "SSEAlgorithm")) != "aws:kms" {
		t.Fatal("EvidenceBucket: default encryption must be aws:kms")
	}
	if r, attr := getAttOf(path(enc[0], "ServerSideEncryptionByDefault", "KMSMasterKeyID")); r != "EvidenceKey" || attr != "Arn" {
		t.Error("EvidenceBucket: KMSMasterKeyID must be !GetAtt EvidenceKey.Arn")
	}
	for id, r := range s.resources {
		if str(get(r, "Type")) != "AWS::SQS::Queue" {
			continue
		}
		if refTo(path(r, "Properties", "KmsMasterKeyId")) != "EvidenceKey" || get(get(r, "Properties"), "SqsManagedSseEnabled") != nil {
			t.Errorf("%s: must be encrypted with KmsMasterKeyId: !Ref EvidenceKey", id)
		}
	}

	// Lifecycle = archive.RetentionRules, days from the parameters.
	want := map[string]string{}
	for _, r := range archive.RetentionRules("archive", 180, 1096) {
		switch r.Days {
		case 180:
			want[r.Prefix] = "EvidenceRetentionDays"
		case 1096:
			want[r.Prefix] = "AuditRetentionDays"
		default:
			want[r.Prefix] = "1"
		}
	}
	got := map[string]string{}
	for _, rule := range items(path(s.resources["EvidenceBucket"], "Properties", "LifecycleConfiguration", "Rules")) {
		if str(get(rule, "Status")) != "Enabled" {
			t.Errorf("lifecycle rule %s is not Enabled", str(get(rule, "Id")))
		}
		days := str(get(rule, "ExpirationInDays"))
		if p := refTo(get(rule, "ExpirationInDays")); p != "" {
			days = p
		}
		got[str(get(rule, "Prefix"))] = days
	}
	if !mapsEqualStr(got, want) {
		t.Errorf("lifecycle rules %v, want %v (shared/archive.RetentionRules)", got, want)
	}
	for _, p := range []string{"EvidenceRetentionDays", "AuditRetentionDays"} {
		if s.params[p] == nil {
			t.Errorf("no parameter %s", p)
		}
	}
}

func mapsEqualStr(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// A function that may delete under archive/ (erasure) may never delete an
// erasure's audit record: an explicit Deny on archive/_audit/*.
func TestSAMAuditRecordsAreNeverDeleted(t *testing.T) {
	s := loadSAM(t)
	const archive = "sub:arn:${AWS::Partition}:s3:::${AWS::StackName}-evidence-${AWS::AccountId}/archive/"
	for _, f := range s.functions {
		deletes, denied := false, false
		for _, p := range items(f.prop("Policies", nil)) {
			for _, st := range statements(get(p, "Statement")) {
				for _, r := range st.resources {
					switch {
					case st.effect == "Allow" && slices.Contains(st.actions, "s3:DeleteObject") && r == archive+"*":
						deletes = true
					case st.effect == "Deny" && slices.Contains(st.actions, "s3:DeleteObject") && r == archive+"_audit/*":
						denied = true
					}
				}
			}
		}
		if deletes && !denied {
			t.Errorf("%s: may delete under archive/ without a Deny on archive/_audit/*", f.id)
		}
	}
}
