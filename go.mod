module github.com/cardocr/cardocr

go 1.26

require (
	github.com/aws/aws-lambda-go v1.55.1 // indirect
	github.com/awslabs/aws-lambda-go-api-proxy v0.16.2 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
