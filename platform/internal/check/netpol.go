package check

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateNetworkPolicy applies the API server's checks of a NetworkPolicy's spec
// (k8s.io/kubernetes pkg/apis/networking/validation, which cannot be imported): selectors,
// policy types, protocols (upper case only), ports and port ranges, peers and IP blocks.
func ValidateNetworkPolicy(np *networkingv1.NetworkPolicy) error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	selector := func(path string, s *metav1.LabelSelector) {
		if fe := metavalidation.ValidateLabelSelector(s, metavalidation.LabelSelectorValidationOptions{}, field.NewPath(path)); len(fe) > 0 {
			errs = append(errs, fe.ToAggregate())
		}
	}
	selector("spec.podSelector", &np.Spec.PodSelector)
	if len(np.Spec.PolicyTypes) > 2 {
		add("spec.policyTypes: at most Ingress and Egress")
	}
	for i, t := range np.Spec.PolicyTypes {
		if t != networkingv1.PolicyTypeIngress && t != networkingv1.PolicyTypeEgress {
			add("spec.policyTypes[%d] %q: want Ingress or Egress", i, t)
		}
		if slices.Index(np.Spec.PolicyTypes, t) != i {
			add("spec.policyTypes[%d] %q: repeated", i, t)
		}
	}
	ports := func(path string, ps []networkingv1.NetworkPolicyPort) {
		for i, p := range ps {
			at := fmt.Sprintf("%s.ports[%d]", path, i)
			if p.Protocol != nil {
				switch *p.Protocol {
				case corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
				default:
					add("%s.protocol %q: want TCP, UDP or SCTP (upper case)", at, *p.Protocol)
				}
			}
			if p.Port == nil {
				if p.EndPort != nil {
					add("%s.endPort: needs a port", at)
				}
				continue
			}
			if p.Port.Type == intstr.Int {
				for _, msg := range validation.IsValidPortNum(int(p.Port.IntVal)) {
					add("%s.port %d: %s", at, p.Port.IntVal, msg)
				}
				if p.EndPort != nil {
					if *p.EndPort < p.Port.IntVal {
						add("%s.endPort %d: below port %d", at, *p.EndPort, p.Port.IntVal)
					}
					for _, msg := range validation.IsValidPortNum(int(*p.EndPort)) {
						add("%s.endPort %d: %s", at, *p.EndPort, msg)
					}
				}
				continue
			}
			if p.EndPort != nil {
				add("%s.endPort: not allowed with a named port", at)
			}
			for _, msg := range validation.IsValidPortName(p.Port.StrVal) {
				add("%s.port %q: %s", at, p.Port.StrVal, msg)
			}
		}
	}
	peers := func(path string, ps []networkingv1.NetworkPolicyPeer) {
		for i, p := range ps {
			at := fmt.Sprintf("%s[%d]", path, i)
			if p.PodSelector == nil && p.NamespaceSelector == nil && p.IPBlock == nil {
				add("%s: needs a podSelector, a namespaceSelector or an ipBlock", at)
			}
			if p.IPBlock != nil && (p.PodSelector != nil || p.NamespaceSelector != nil) {
				add("%s: ipBlock cannot be combined with selectors", at)
			}
			if p.PodSelector != nil {
				selector(at+".podSelector", p.PodSelector)
			}
			if p.NamespaceSelector != nil {
				selector(at+".namespaceSelector", p.NamespaceSelector)
			}
			if b := p.IPBlock; b != nil {
				cidr, err := netip.ParsePrefix(b.CIDR)
				if err != nil {
					add("%s.ipBlock.cidr %q: %v", at, b.CIDR, err)
					continue
				}
				for _, e := range b.Except {
					ex, err := netip.ParsePrefix(e)
					if err != nil || ex.Bits() <= cidr.Bits() || !cidr.Contains(ex.Addr()) {
						add("%s.ipBlock.except %q: must be a CIDR strictly within %s", at, e, b.CIDR)
					}
				}
			}
		}
	}
	for i, r := range np.Spec.Ingress {
		ports(fmt.Sprintf("spec.ingress[%d]", i), r.Ports)
		peers(fmt.Sprintf("spec.ingress[%d].from", i), r.From)
	}
	for i, r := range np.Spec.Egress {
		ports(fmt.Sprintf("spec.egress[%d]", i), r.Ports)
		peers(fmt.Sprintf("spec.egress[%d].to", i), r.To)
	}
	return errors.Join(errs...)
}

// Source is where a connection comes from: a pod in a namespace (whose labels are the one
// the API server sets, kubernetes.io/metadata.name), or an address outside the pod network.
type Source struct {
	Namespace string
	Labels    map[string]string
	IP        netip.Addr
}

// namespaceLabels are the labels every namespace carries (set by the API server since 1.22).
func namespaceLabels(ns string) labels.Set {
	return labels.Set{"kubernetes.io/metadata.name": ns}
}

// IngressAllowed evaluates the NetworkPolicies of namespace ns as the specification defines
// them: a pod that no policy selects for Ingress takes everything; otherwise a connection
// needs one rule of one selecting policy whose peers and ports both match. Named ports are
// an error: resolving them needs the target container's port names.
func IngressAllowed(policies []*networkingv1.NetworkPolicy, from Source, ns string, pod map[string]string, proto corev1.Protocol, port int32) (bool, error) {
	isolated := false
	for _, np := range policies {
		if np.Namespace != ns || !appliesToIngress(np) {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil {
			return false, fmt.Errorf("%s: %w", np.Name, err)
		}
		if !sel.Matches(labels.Set(pod)) {
			continue
		}
		isolated = true
		for _, rule := range np.Spec.Ingress {
			peerOK, err := peersMatch(rule.From, from, np.Namespace)
			if err != nil {
				return false, fmt.Errorf("%s: %w", np.Name, err)
			}
			portOK, err := portsMatch(rule.Ports, proto, port)
			if err != nil {
				return false, fmt.Errorf("%s: %w", np.Name, err)
			}
			if peerOK && portOK {
				return true, nil
			}
		}
	}
	return !isolated, nil
}

func peersMatch(peers []networkingv1.NetworkPolicyPeer, from Source, policyNS string) (bool, error) {
	if len(peers) == 0 {
		return true, nil
	}
	for _, p := range peers {
		if p.IPBlock != nil {
			if !from.IP.IsValid() {
				continue
			}
			cidr, err := netip.ParsePrefix(p.IPBlock.CIDR)
			if err != nil {
				return false, err
			}
			in := cidr.Contains(from.IP)
			for _, e := range p.IPBlock.Except {
				if ex, err := netip.ParsePrefix(e); err == nil && ex.Contains(from.IP) {
					in = false
				}
			}
			if in {
				return true, nil
			}
			continue
		}
		if from.Namespace == "" {
			continue // not a pod
		}
		nsOK := from.Namespace == policyNS
		if p.NamespaceSelector != nil {
			s, err := metav1.LabelSelectorAsSelector(p.NamespaceSelector)
			if err != nil {
				return false, err
			}
			nsOK = s.Matches(namespaceLabels(from.Namespace))
		}
		podOK := true
		if p.PodSelector != nil {
			s, err := metav1.LabelSelectorAsSelector(p.PodSelector)
			if err != nil {
				return false, err
			}
			podOK = s.Matches(labels.Set(from.Labels))
		}
		if nsOK && podOK {
			return true, nil
		}
	}
	return false, nil
}

func portsMatch(ports []networkingv1.NetworkPolicyPort, proto corev1.Protocol, port int32) (bool, error) {
	if len(ports) == 0 {
		return true, nil
	}
	for _, p := range ports {
		want := corev1.ProtocolTCP
		if p.Protocol != nil {
			want = *p.Protocol
		}
		if want != proto {
			continue
		}
		if p.Port == nil {
			return true, nil
		}
		if p.Port.Type != intstr.Int {
			return false, fmt.Errorf("named port %q: use numbers", p.Port.StrVal)
		}
		end := p.Port.IntVal
		if p.EndPort != nil {
			end = *p.EndPort
		}
		if port >= p.Port.IntVal && port <= end {
			return true, nil
		}
	}
	return false, nil
}

// appliesToIngress: policyTypes, or when empty, Ingress always (the API server's default).
func appliesToIngress(np *networkingv1.NetworkPolicy) bool {
	if len(np.Spec.PolicyTypes) == 0 {
		return true
	}
	return slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress)
}
