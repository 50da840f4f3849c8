package main

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// localPath is the default StorageClass K3s ships, which install.sh's preflight requires.
const localPath = "local-path"

// storageClass creates K3s's default StorageClass.
func (cp *controlPlane) storageClass(ctx context.Context) error {
	wffc := storagev1.VolumeBindingWaitForFirstConsumer
	del := corev1.PersistentVolumeReclaimDelete
	_, err := cp.kube.StorageV1().StorageClasses().Create(ctx, &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: localPath, Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}},
		Provisioner:       "rancher.io/local-path",
		VolumeBindingMode: &wffc,
		ReclaimPolicy:     &del,
	}, metav1.CreateOptions{})
	return err
}

// provision stands in for K3s's local-path provisioner: each claim of that class the
// scheduler has picked a node for gets a PersistentVolume on that node, bound to it. Nothing
// is written to disk; no container will use it.
func (cp *controlPlane) provision(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		claims, err := cp.kube.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{})
		if err != nil {
			continue
		}
		for _, c := range claims.Items {
			node := c.Annotations["volume.kubernetes.io/selected-node"]
			if c.Spec.VolumeName != "" || node == "" || c.Spec.StorageClassName == nil || *c.Spec.StorageClassName != localPath {
				continue
			}
			size := c.Spec.Resources.Requests[corev1.ResourceStorage]
			if size.IsZero() {
				size = resource.MustParse("1Gi")
			}
			pv := &corev1.PersistentVolume{
				ObjectMeta: metav1.ObjectMeta{Name: "pvc-" + string(c.UID), Annotations: map[string]string{"pv.kubernetes.io/provisioned-by": "rancher.io/local-path"}},
				Spec: corev1.PersistentVolumeSpec{
					Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size},
					AccessModes:                   c.Spec.AccessModes,
					PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
					StorageClassName:              localPath,
					VolumeMode:                    c.Spec.VolumeMode,
					ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: c.Namespace, Name: c.Name, UID: c.UID, APIVersion: "v1"},
					PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/rancher/k3s/storage/" + c.Name}},
					NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
						MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{node}}},
					}}}},
				},
			}
			if _, err := cp.kube.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err == nil {
				logf("     provisioned %s for claim %s/%s on %s", pv.Name, c.Namespace, c.Name, node)
			}
		}
	}
}
