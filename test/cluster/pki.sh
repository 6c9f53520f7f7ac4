# Certificates and kubeconfigs of the local cluster (sourced by up). One CA signs everything;
# ECDSA P-256 keys keep generation quick. Made once per .cluster/ and reused by later starts.

# cert NAME CN ORG [SAN]: a client/server certificate signed by the cluster CA.
cert() {
  local name=$1 cn=$2 org=$3 san=${4:-} pki=$STATE/pki
  [ -f "$pki/$name.crt" ] && return
  openssl ecparam -name prime256v1 -genkey -noout -out "$pki/$name.key" 2>/dev/null
  local subj="/CN=$cn"
  [ -n "$org" ] && subj="/O=$org$subj"
  local ext=$pki/$name.ext
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=serverAuth,clientAuth"
    [ -n "$san" ] && echo "subjectAltName=$san"
  } >"$ext"
  openssl req -new -key "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr" 2>/dev/null
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$ext" -out "$pki/$name.crt" 2>/dev/null
  rm -f "$pki/$name.csr" "$ext"
}

# kubeconfig FILE CERTNAME USER: a kubeconfig that authenticates with a client certificate.
kubeconfig() {
  local file=$1 crt=$STATE/pki/$2.crt key=$STATE/pki/$2.key user=$3
  cat >"$file" <<KC
apiVersion: v1
kind: Config
clusters:
- name: telepath-local
  cluster:
    server: $APISERVER
    certificate-authority-data: $(base64 -w0 "$STATE/pki/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 "$crt")
    client-key-data: $(base64 -w0 "$key")
contexts:
- name: telepath-local
  context:
    cluster: telepath-local
    user: $user
    namespace: default
current-context: telepath-local
KC
  chmod 600 "$file"
}

gen_pki() {
  local pki=$STATE/pki
  mkdir -p "$pki"
  chmod 700 "$pki"
  if [ ! -f "$pki/ca.crt" ]; then
    openssl ecparam -name prime256v1 -genkey -noout -out "$pki/ca.key" 2>/dev/null
    openssl req -x509 -new -key "$pki/ca.key" -subj "/CN=telepath-local-ca" -days 3650 -sha256 \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -out "$pki/ca.crt" 2>/dev/null
  fi
  if [ ! -f "$pki/sa.key" ]; then
    openssl ecparam -name prime256v1 -genkey -noout -out "$pki/sa.key" 2>/dev/null
    openssl ec -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  fi
  local loopback6=
  [ "$IP_FAMILY" = 4 ] || loopback6=IP:::1,
  cert "$APISERVER_CERT" kube-apiserver "" \
    "IP:$NODE_IP,IP:$KUBERNETES_SVC_IP,IP:127.0.0.1,${loopback6}DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
  cert admin telepath-admin system:masters
  # The second workstation's user: another person, an admin of this cluster too (tests give
  # other users their own narrower rights).
  cert admin2 telepath-admin2 system:masters
  cert controller-manager system:kube-controller-manager ""
  cert scheduler system:kube-scheduler ""
  cert kubelet "system:node:$NODE_NAME" system:nodes
  cert kube-proxy system:kube-proxy ""
  kubeconfig "$KUBECONFIG_ADMIN" admin telepath-admin
  kubeconfig "$KUBECONFIG_ADMIN2" admin2 telepath-admin2
  mkdir -p "$STATE/config"
  kubeconfig "$STATE/config/controller-manager.kubeconfig" controller-manager system:kube-controller-manager
  kubeconfig "$STATE/config/scheduler.kubeconfig" scheduler system:kube-scheduler
  kubeconfig "$STATE/config/kubelet.kubeconfig" kubelet "system:node:$NODE_NAME"
  kubeconfig "$STATE/config/kube-proxy.kubeconfig" kube-proxy system:kube-proxy
}
