// The kubelet's effective configuration: its --config file and --config-dir drop-ins merged as
// the kubelet merges them (layered.h, facts §4), then the kubelet's defaults.
//
// Defaults are applied once, after the merge, as facts §4 states: "defaults are applied after
// merging (an explicit zero of a defaulted field comes back as the default); validation runs on
// the final result only". The real kubelet (cmd/kubelet/app/server.go) differs in one respect:
// loadConfigFile decodes the main file, which defaults it (and fills evictionHard, with
// mergeDefaultEvictionSettings), and mergeKubeletConfigurations then patches the drop-ins onto
// that already-defaulted object. The two orders agree except where a drop-in sets a defaulted
// field to its zero value, and for evictionHard: there the kubelet's order makes a drop-in's
// partial evictionHard add to the defaults the main file already received, while defaulting
// after the merge (this file) treats it as a partial map, which disables the other defaults
// unless mergeDefaultEvictionSettings is true.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "agent/config/eviction.h"
#include "agent/config/layered.h"
#include "nodehealth/result.h"

namespace nodehealth::config {

// SetDefaults_KubeletConfiguration (pkg/kubelet/apis/config/v1beta1/defaults.go, Kubernetes
// 1.35) on the merged camelCase JSON, field by field: a pointer field is defaulted when absent
// or null, a plain field also when it holds its type's zero value (0, "", a zero duration).
// Also: loadConfigFile's evictionHard default and mergeDefaultEvictionSettings merge;
// logsapi.SetRecommendedLoggingConfiguration for `logging`; the feature-gated defaults when the
// gate is on (kubelet_feature_enabled); the zero-valued fields the kubelet always serializes
// (authentication.x509: {}, memorySwap: {}, shutdownGracePeriod: 0s, ...); and every
// metav1.Duration field that parses rewritten the way Go prints it ("5m" -> "5m0s"), as the
// kubelet's /configz shows them. Values of the wrong type are left alone.
nlohmann::json apply_kubelet_defaults(nlohmann::json merged);

// Whether a kubelet feature gate that guards a default is on: featureGates[gate] when set,
// else featureGates[AllBeta] for a beta gate, else the gate's default in Kubernetes 1.35
// (KubeletCrashLoopBackOffMax and KubeletEnsureSecretPulledImages: beta, on). Unknown gates: off.
bool kubelet_feature_enabled(const nlohmann::json& config, std::string_view gate);

// The object the kubelet starts from when it has no --config file (cmd/kubelet/app/options
// NewKubeletConfiguration's applyLegacyDefaults, the command-line API's old defaults): anonymous
// authentication on, webhook authentication off, authorization AlwaysAllow, readOnlyPort 10255.
nlohmann::json kubelet_legacy_flag_defaults();

// The kubelet's effective configuration from its files: the main file (optional; relative paths
// in its path fields resolved against its directory, as configfiles.go's loader does), or the
// legacy baseline without one, then each drop-in of `dir` in the kubelet's order, merged with
// RFC 7386; then apply_kubelet_defaults. Provenance is kept for every value from a file.
// Errors: load_file's and list_drop_ins' (missing or empty file, missing kind, ...).
Result<Document> load_kubelet_config(const std::optional<std::string>& file,
                                     const std::optional<std::string>& dir);

// The checks the kubelet makes on the effective configuration before it runs that matter here:
// every duration field is a Go duration string (the decoder's job in the kubelet), and the
// eviction settings parse (ParseThresholdConfig and friends, eviction.h). Every problem at once,
// "<file>:<line>: <key path>: <text>".
Result<EvictionSettings> validate_kubelet_config(const Document& effective);

}  // namespace nodehealth::config
