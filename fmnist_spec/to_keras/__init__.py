"""to_keras"""
