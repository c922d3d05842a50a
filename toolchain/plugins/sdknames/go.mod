module synapse-stack/toolchain/plugins/sdknames

go 1.25.11

require github.com/pulumi/pulumi-terraform-bridge/v3 v3.135.0
