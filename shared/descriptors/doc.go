// Package descriptors holds the tests of the deployment descriptors:
// template.yaml (AWS SAM), serverless.yml (Tencent SCF, multi-scf), the CAM
// policies under scripts/scf, the Makefile's SAM build targets and the deploy
// and smoke scripts. No offline validator understands current SAM or
// serverless-component syntax, so the tests parse the files with yaml.v3
// (intrinsic tags such as !Ref, !Sub and !GetAtt kept) and check what
// matters: every functions/ directory is deployed on both clouds and nothing
// else; runtimes, handlers and architectures; triggers and cron shapes;
// environment variable names that the code actually reads (found in the
// source with go/ast); least privilege.
//
// The package has no code of its own.
package descriptors
