"""Chain side shared by node, web and deploy: anvil, the deployment file, deploying, governance writes, signing keys."""
